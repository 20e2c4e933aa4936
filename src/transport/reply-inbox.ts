/** ReplyInbox: the requests of one connection that wait for their replies on `<inbox>.<id>`. */
import type { ReplyFrame, ReplyOutcome } from './engine-types.ts';

/** How a waiting request ends: with a reply frame, or with an error. */
export type Outcome = ReplyOutcome;

/** A request waiting for its reply, or a gathering waiting for many. */
export interface PendingRequest {
  readonly subject: string;
  readonly settle: (outcome: Outcome) => void;
  /** Whether replies keep coming to it (a gathering): a reply leaves it in place; only its signal ends it. */
  readonly many: boolean;
}

/**
 * Hands out reply addresses under one prefix, so a connection needs a single wildcard subscription for
 * every reply, and matches each reply (or failure) to the request waiting for it. A reply that arrives
 * after its request timed out or was aborted finds nobody and is dropped.
 */
export class ReplyInbox {
  readonly prefix: string;
  readonly #pending = new Map<string, PendingRequest>();
  #nextId = 0;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /**
   * Registers a request to `subject`; `signal` (the request's own, aborted at its deadline) abandons it.
   * `tag` is appended to the id (it must not contain a dot): the address may carry a little more than an
   * id. Returns the id, the address replies must go to, and the promise of the reply.
   */
  open(
    subject: string,
    signal: AbortSignal,
    tag = '',
  ): { id: string; replyTo: string; reply: Promise<ReplyFrame> } {
    this.#nextId = (this.#nextId + 1) % Number.MAX_SAFE_INTEGER;
    const id = this.#nextId.toString(36) + tag;
    const { promise, resolve, reject } = Promise.withResolvers<ReplyFrame>();
    const onAbort = (): void => {
      this.#pending.delete(id);
      reject(signal.reason);
    };
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        subject,
        many: false,
        settle: (outcome) => {
          signal.removeEventListener('abort', onAbort);
          if ('reply' in outcome) resolve(outcome.reply);
          else reject(outcome.error);
        },
      });
    }
    return { id, replyTo: `${this.prefix}.${id}`, reply: promise };
  }

  /**
   * Registers a gathering of replies to `subject`: `receive` gets each reply (and an error ends it) until
   * `signal` aborts, which removes it. Returns the id and the address replies must go to.
   */
  openMany(
    subject: string,
    signal: AbortSignal,
    tag: string,
    receive: (outcome: Outcome) => void,
  ): { id: string; replyTo: string } {
    this.#nextId = (this.#nextId + 1) % Number.MAX_SAFE_INTEGER;
    const id = this.#nextId.toString(36) + tag;
    if (!signal.aborted) {
      signal.addEventListener('abort', () => this.#pending.delete(id), { once: true });
      this.#pending.set(id, { subject, many: true, settle: receive });
    }
    return { id, replyTo: `${this.prefix}.${id}` };
  }

  /** Returns the request a reply on `replySubject` belongs to, if it still waits; removes it unless it gathers many. */
  take(replySubject: string): PendingRequest | undefined {
    const id = replySubject.slice(this.prefix.length + 1);
    const pending = this.#pending.get(id);
    if (pending !== undefined && !pending.many) this.#pending.delete(id);
    return pending;
  }

  /** Ends every waiting request whose subject `matches` with `outcome()`; returns how many there were. */
  settleWhere(matches: (subject: string) => boolean, outcome: () => Outcome): number {
    let count = 0;
    for (const [id, pending] of this.#pending) {
      if (!matches(pending.subject)) continue;
      this.#pending.delete(id);
      pending.settle(outcome());
      count++;
    }
    return count;
  }

  /** Ends the request `id` with `outcome` if it still waits; returns whether it did. */
  settle(id: string, outcome: Outcome | ((subject: string) => Outcome)): boolean {
    const pending = this.#pending.get(id);
    if (pending === undefined) return false;
    this.#pending.delete(id);
    pending.settle(typeof outcome === 'function' ? outcome(pending.subject) : outcome);
    return true;
  }
}
