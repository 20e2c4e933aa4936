/** PendingRequests: the requests a transport waits on, their deadlines, and how each ends. */
import { onAbort } from '../abort.ts';
import type { CancelReason } from './cancel-message.ts';
import { DeadlineHeap, type Timed } from './deadline-heap.ts';
import type { ReplyFrame, ReplyWaiter } from './engine-types.ts';

/** What the transport does for its requests: read a reply, send a cancel, name a timeout. */
export interface RequestHooks {
  /** The value of a reply frame; throws the error the caller gets for a failed or unreadable reply. */
  read(subject: string, frame: ReplyFrame): unknown;
  /** Tells the responder the caller stopped waiting (fire and forget). */
  cancel(subject: string, key: string, reason: CancelReason): void;
  /** The error of a request whose deadline passed. */
  timedOut(subject: string, timeoutMs: number): Error;
}

/**
 * One request waiting for its reply. The engine hands it the reply or a failure; the transport ends it at
 * its deadline, when the caller's signal aborts, or at close. Whichever comes first settles its promise;
 * the rest are ignored. It holds no timer and no AbortController of its own.
 */
export class OutgoingRequest implements ReplyWaiter, Timed {
  readonly subject: string;
  readonly timeoutMs: number;
  readonly promise: Promise<unknown>;
  /** What the responder knows the request by (set once sent); named in a cancel. */
  key = '';
  settled = false;
  release: (() => void) | undefined = undefined;
  /** When the deadline passes, on the `performance.now()` clock. */
  due: number;
  /** Its place in the deadline heap; -1 once out of it. */
  slot = -1;
  #resolve!: (value: unknown) => void;
  #reject!: (reason: unknown) => void;
  #unwatch: (() => void) | undefined = undefined;
  readonly #owner: PendingRequests;

  constructor(owner: PendingRequests, subject: string, timeoutMs: number, due: number) {
    this.#owner = owner;
    this.subject = subject;
    this.timeoutMs = timeoutMs;
    this.due = due;
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  reply(frame: ReplyFrame): void {
    if (this.settled) return;
    this.#end();
    let value: unknown;
    try {
      value = this.#owner.hooks.read(this.subject, frame);
    } catch (error) {
      this.#reject(error);
      return;
    }
    this.#resolve(value);
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.#end();
    this.#reject(error);
  }

  /**
   * Stops waiting with `reason` (deadline, the caller's abort, close): the engine lets go of the request,
   * and the responder, which may still be working on it, hears a cancel.
   */
  abandon(reason: unknown, why: CancelReason): void {
    if (this.settled) return;
    this.#end();
    this.release?.();
    this.release = undefined;
    if (this.key !== '') this.#owner.hooks.cancel(this.subject, this.key, why);
    this.#reject(reason);
  }

  /** Follows the caller's signal (not aborted yet), through its shared listener. */
  watch(signal: AbortSignal): void {
    this.#unwatch = onAbort(signal, () => this.abandon(signal.reason, 'abort'));
  }

  #end(): void {
    this.settled = true;
    this.#owner.remove(this);
    this.#unwatch?.();
    this.#unwatch = undefined;
  }
}

/**
 * The requests in flight on one transport, with their deadlines under one shared timer (a DeadlineHeap):
 * per request, a heap insert and removal instead of a platform timer set and cleared.
 */
export class PendingRequests {
  readonly hooks: RequestHooks;
  readonly #deadlines = new DeadlineHeap<OutgoingRequest>((request) =>
    request.abandon(this.hooks.timedOut(request.subject, request.timeoutMs), 'deadline'),
  );

  constructor(hooks: RequestHooks) {
    this.hooks = hooks;
  }

  get size(): number {
    return this.#deadlines.size;
  }

  /** A request to `subject` that waits at most `timeoutMs`, registered before anything is sent. */
  open(subject: string, timeoutMs: number): OutgoingRequest {
    const request = new OutgoingRequest(this, subject, timeoutMs, performance.now() + timeoutMs);
    this.#deadlines.add(request);
    return request;
  }

  /** The requests still waiting, in no particular order. */
  all(): OutgoingRequest[] {
    return this.#deadlines.items();
  }

  /** Takes a request out (it ended). */
  remove(request: OutgoingRequest): void {
    this.#deadlines.remove(request);
  }
}
