/** PendingRequests: the requests a transport waits on, their deadlines under one shared timer, and how each ends. */
import { clearLongTimeout, type LongTimer, MAX_TIMER_MS, onAbort, setLongTimeout } from '../abort.ts';
import type { CancelReason } from './cancel-message.ts';
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
export class OutgoingRequest implements ReplyWaiter {
  readonly subject: string;
  readonly timeoutMs: number;
  readonly promise: Promise<unknown>;
  /** What the responder knows the request by (set once sent); named in a cancel. */
  key = '';
  settled = false;
  release: (() => void) | undefined = undefined;
  /** When the deadline passes, on the `performance.now()` clock. */
  readonly due: number;
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
 * The requests in flight on one transport, in a binary heap by deadline, with one platform timer armed for
 * the earliest. A request that ends first leaves the heap without touching the timer (the timer finds
 * nothing due, and re-arms for the new earliest); the timer is cleared once no request waits, so nothing
 * is left running. Per request: a heap insert and removal (O(log n), usually O(1) at the insert, as
 * requests with one budget arrive in deadline order) instead of a platform timer set and cleared.
 */
export class PendingRequests {
  readonly hooks: RequestHooks;
  readonly #heap: OutgoingRequest[] = [];
  #timer: LongTimer | undefined;
  /** The time the timer is armed for (Infinity when none is). */
  #armedFor = Number.POSITIVE_INFINITY;
  readonly #fire = (): void => this.#expire();

  constructor(hooks: RequestHooks) {
    this.hooks = hooks;
  }

  get size(): number {
    return this.#heap.length;
  }

  /** A request to `subject` that waits at most `timeoutMs`, registered before anything is sent. */
  open(subject: string, timeoutMs: number): OutgoingRequest {
    const request = new OutgoingRequest(this, subject, timeoutMs, performance.now() + timeoutMs);
    this.#push(request);
    if (request.due < this.#armedFor) this.#arm(request.due);
    return request;
  }

  /** The requests still waiting, in no particular order. */
  all(): OutgoingRequest[] {
    return [...this.#heap];
  }

  /** Takes a request out of the heap (it ended); the timer stays unless nothing is left. */
  remove(request: OutgoingRequest): void {
    const at = request.slot;
    if (at < 0) return;
    request.slot = -1;
    const heap = this.#heap;
    const last = heap.pop() as OutgoingRequest;
    if (at < heap.length) {
      heap[at] = last;
      last.slot = at;
      this.#down(at);
      this.#up(last.slot);
    }
    if (heap.length === 0 && this.#timer !== undefined) {
      clearLongTimeout(this.#timer);
      this.#timer = undefined;
      this.#armedFor = Number.POSITIVE_INFINITY;
    }
  }

  #arm(due: number): void {
    if (this.#timer !== undefined) clearLongTimeout(this.#timer);
    // Never early: a timer may fire a fraction of a millisecond before `due` by this clock, and then it
    // re-arms for what is left. Past the longest platform timer, it wakes up on the way.
    const wait = Math.min(Math.max(Math.ceil(due - performance.now()), 1), MAX_TIMER_MS);
    this.#armedFor = wait === MAX_TIMER_MS ? performance.now() + wait : due;
    this.#timer = setLongTimeout(this.#fire, wait);
  }

  #expire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    const heap = this.#heap;
    // Each abandon() takes its request out of the heap, so the loop always looks at the earliest left.
    while (heap.length > 0 && (heap[0] as OutgoingRequest).due <= now) {
      const request = heap[0] as OutgoingRequest;
      request.abandon(this.hooks.timedOut(request.subject, request.timeoutMs), 'deadline');
    }
    const next = heap[0];
    if (next !== undefined && this.#timer === undefined) this.#arm(next.due);
  }

  #push(request: OutgoingRequest): void {
    request.slot = this.#heap.length;
    this.#heap.push(request);
    this.#up(request.slot);
  }

  #up(at: number): void {
    const heap = this.#heap;
    const item = heap[at] as OutgoingRequest;
    while (at > 0) {
      const parentAt = (at - 1) >> 1;
      const parent = heap[parentAt] as OutgoingRequest;
      if (parent.due <= item.due) break;
      heap[at] = parent;
      parent.slot = at;
      at = parentAt;
    }
    heap[at] = item;
    item.slot = at;
  }

  #down(at: number): void {
    const heap = this.#heap;
    const item = heap[at] as OutgoingRequest;
    const half = heap.length >> 1;
    while (at < half) {
      let childAt = 2 * at + 1;
      let child = heap[childAt] as OutgoingRequest;
      const rightAt = childAt + 1;
      if (rightAt < heap.length && (heap[rightAt] as OutgoingRequest).due < child.due) {
        childAt = rightAt;
        child = heap[rightAt] as OutgoingRequest;
      }
      if (item.due <= child.due) break;
      heap[at] = child;
      child.slot = at;
      at = childAt;
    }
    heap[at] = item;
    item.slot = at;
  }
}
