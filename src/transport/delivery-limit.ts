/** DeliveryLimit: how many handler calls of one subscription run at once, and how many messages wait. */

/**
 * 64 handlers at once lets I/O-bound handlers (a database call of a few ms) overlap enough for thousands
 * of messages a second, while a flood no longer means one pending promise, closure and payload per message.
 */
export const defaultConcurrency = 64;
/**
 * 10,000 waiting messages absorb a burst of a few seconds at typical rates, yet hold only some MB of
 * payloads (10 MB at 1 KB each) where an unbounded backlog grew to hundreds of MB.
 */
export const defaultMaxPending = 10_000;

/**
 * Starts `run(message, done)` for each offered message while fewer than `concurrency` runs are unfinished;
 * keeps up to `maxPending` more in arrival order; past that, hands them to `drop`. `run` returns true
 * while the call goes on (and then calls `done` once, when it ends), or false when it finished at once (a
 * synchronous handler takes no slot).
 */
export class DeliveryLimit<M> {
  readonly concurrency: number;
  readonly maxPending: number;
  /** Messages handed to `drop` (overflow, or still waiting when the subscription ended). */
  dropped = 0;
  #running = 0;
  /** Waiting messages, from `#head` on; the array is compacted once half of it is spent. */
  #waiting: M[] = [];
  #head = 0;
  /** Whether a burst of drops is under way; it ends once every waiting message has started. */
  #overflowing = false;
  readonly #run: (message: M, done: () => void) => boolean;
  readonly #done = (): void => this.#finished();
  readonly #drop: (message: M, firstOfBurst: boolean) => void;

  constructor(
    concurrency: number,
    maxPending: number,
    run: (message: M, done: () => void) => boolean,
    drop: (message: M, firstOfBurst: boolean) => void,
  ) {
    this.concurrency = concurrency;
    this.maxPending = maxPending;
    this.#run = run;
    this.#drop = drop;
  }

  get pending(): number {
    return this.#waiting.length - this.#head;
  }

  /** Whether a message offered now would start at once (rather than wait for a turn, or be dropped). */
  get free(): boolean {
    return this.#running < this.concurrency && this.pending === 0;
  }

  offer(message: M): void {
    if (this.free) this.#start(message);
    else if (this.pending < this.maxPending) this.#waiting.push(message);
    else {
      this.dropped++;
      const first = !this.#overflowing;
      this.#overflowing = true;
      this.#drop(message, first);
    }
  }

  /** Removes the waiting messages (the subscription ended) and returns them; counts them as dropped. */
  clear(): M[] {
    const left = this.#waiting.slice(this.#head);
    this.#waiting = [];
    this.#head = 0;
    this.dropped += left.length;
    return left;
  }

  #start(message: M): void {
    // Counted before the call: `done` comes later, never inside run().
    this.#running++;
    if (!this.#run(message, this.#done)) this.#running--;
  }

  #finished(): void {
    this.#running--;
    while (this.#running < this.concurrency && this.pending > 0) {
      const next = this.#waiting[this.#head] as M;
      this.#waiting[this.#head] = undefined as M;
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting = this.#waiting.slice(this.#head);
        this.#head = 0;
      }
      this.#start(next);
    }
    if (this.pending === 0) {
      this.#overflowing = false;
      if (this.#head > 0) {
        this.#waiting = [];
        this.#head = 0;
      }
    }
  }
}
