/** ReplyInbox: the requests of one connection that wait for their replies on `<inbox>.<id>`. */
import type { ReplyFrame, ReplyOutcome, ReplyWaiter } from './engine-types.ts';

/** A gathering of replies: each reply (and the error that ends it) goes to `receive` until its signal aborts. */
class Gathering {
  readonly subject: string;
  readonly #receive: (outcome: ReplyOutcome) => void;

  constructor(subject: string, receive: (outcome: ReplyOutcome) => void) {
    this.subject = subject;
    this.#receive = receive;
  }

  reply(frame: ReplyFrame): void {
    this.#receive({ reply: frame });
  }

  fail(error: Error): void {
    this.#receive({ error });
  }
}

/** What waits on an address: one request, or a gathering (which stays until its signal aborts). */
export type Waiting = ReplyWaiter | Gathering;

/**
 * Hands out reply addresses under one prefix, so a connection needs a single wildcard subscription for
 * every reply, and matches each reply (or failure) to the request waiting for it. A reply that arrives
 * after its request timed out or was aborted finds nobody and is dropped.
 */
export class ReplyInbox {
  readonly prefix: string;
  readonly #pending = new Map<string, Waiting>();
  #nextId = 0;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /**
   * Registers a request until it gets its reply or ends without one (then its `release` removes it).
   * `tag` is appended to the id (it must not contain a dot): the address may carry a little more than an
   * id. Returns the id and the address replies must go to.
   */
  open(waiter: ReplyWaiter, tag = ''): { id: string; replyTo: string } {
    const id = this.#id(tag);
    this.#pending.set(id, waiter);
    waiter.release = () => {
      this.#pending.delete(id);
    };
    return { id, replyTo: `${this.prefix}.${id}` };
  }

  /**
   * Registers a gathering of replies to `subject`: `receive` gets each reply (and an error ends it) until
   * `signal` aborts, which removes it. Returns the id and the address replies must go to.
   */
  openMany(
    subject: string,
    signal: AbortSignal,
    tag: string,
    receive: (outcome: ReplyOutcome) => void,
  ): { id: string; replyTo: string } {
    const id = this.#id(tag);
    if (!signal.aborted) {
      signal.addEventListener('abort', () => this.#pending.delete(id), { once: true });
      this.#pending.set(id, new Gathering(subject, receive));
    }
    return { id, replyTo: `${this.prefix}.${id}` };
  }

  /** Returns what waits for a reply on `replySubject`, if anything; removes it unless it gathers many. */
  take(replySubject: string): Waiting | undefined {
    const id = replySubject.slice(this.prefix.length + 1);
    const pending = this.#pending.get(id);
    if (pending !== undefined && !(pending instanceof Gathering)) this.#pending.delete(id);
    return pending;
  }

  /** Fails everything waiting whose subject `matches` with `error()`; returns how many there were. */
  failWhere(matches: (subject: string) => boolean, error: () => Error): number {
    let count = 0;
    for (const [id, pending] of this.#pending) {
      if (!matches(pending.subject)) continue;
      this.#pending.delete(id);
      pending.fail(error());
      count++;
    }
    return count;
  }

  /** Fails what waits on `id` with `error`, if anything still does; returns whether something did. */
  fail(id: string, error: Error): boolean {
    const pending = this.#pending.get(id);
    if (pending === undefined) return false;
    this.#pending.delete(id);
    pending.fail(error);
    return true;
  }

  #id(tag: string): string {
    this.#nextId = (this.#nextId + 1) % Number.MAX_SAFE_INTEGER;
    return this.#nextId.toString(36) + tag;
  }
}
