/**
 * Deadlines: the deadlines of many pending calls kept on one platform timer, so a call that ends in time
 * (nearly every call) costs a Set entry rather than a timer of its own.
 */
import { MAX_TIMER_MS } from '../abort.ts';

/** Something with a deadline (local `Date.now()` ms) to be told of when it passes. */
export interface Timed {
  readonly deadline: number;
  /** Called once, when the deadline has passed and the entry is still watched; it is then no longer watched. */
  expire(): void;
}

export class Deadlines<T extends Timed = Timed> {
  readonly #pending = new Set<T>();
  /**
   * The one timer, armed for `#at`: the earliest deadline (or one that has since left), or the longest
   * delay a platform timer holds, after which it looks again.
   */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #at = Number.POSITIVE_INFINITY;

  /** How many entries are watched. */
  get size(): number {
    return this.#pending.size;
  }

  /** Watches `entry` until `delete(entry)` or its deadline. */
  add(entry: T): void {
    const pending = this.#pending;
    pending.add(entry);
    if (entry.deadline < this.#at) this.#arm(entry.deadline);
    // A timer armed for an entry that has left holds the process only while something is pending.
    else if (pending.size === 1) this.#timer?.ref();
  }

  /** Stops watching `entry`; the timer no longer holds the process once nothing is pending. */
  delete(entry: T): void {
    if (this.#pending.delete(entry) && this.#pending.size === 0) this.#timer?.unref();
  }

  /** Every watched entry, in the order added. */
  values(): IterableIterator<T> {
    return this.#pending.values();
  }

  /** Stops watching everything and clears the timer. */
  clear(): void {
    this.#pending.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    const now = Date.now();
    const delay = Math.min(MAX_TIMER_MS, Math.max(1, at - now));
    this.#at = now + delay;
    this.#timer = setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#at = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const due: T[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.#pending) {
      if (entry.deadline <= now) due.push(entry);
      else if (entry.deadline < next) next = entry.deadline;
    }
    for (const entry of due) this.#pending.delete(entry);
    if (next < this.#at) this.#arm(next);
    for (const entry of due) entry.expire();
  }
}
