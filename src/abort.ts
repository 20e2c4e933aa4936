/**
 * The ground floor's abort plumbing: one abort listener per caller signal, shared by every pending
 * operation that watches it, and a race of a promise against a signal built on it.
 */

// Each signal gets a single listener however many operations wait on it, so thousands of tasks sharing
// one long-lived signal never trip MaxListenersExceededWarning; the listener leaves with the last watcher.
const hubs = new WeakMap<AbortSignal, Hub>();

class Hub {
  readonly signal: AbortSignal;
  readonly callbacks = new Set<() => void>();
  readonly listener = (): void => {
    hubs.delete(this.signal);
    const callbacks = [...this.callbacks];
    this.callbacks.clear();
    for (const callback of callbacks) {
      try {
        callback();
      } catch (error) {
        // One watcher's failure must not keep the abort from the others; it surfaces as an uncaught error.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };

  constructor(signal: AbortSignal) {
    this.signal = signal;
  }
}

/**
 * Calls `callback` once when `signal` aborts. Returns a function that stops watching (idempotent); call
 * it when the operation settles. The signal must not be aborted yet: callers check `aborted` first.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let hub = hubs.get(signal);
  if (hub === undefined) {
    hub = new Hub(signal);
    hubs.set(signal, hub);
    signal.addEventListener('abort', hub.listener, { once: true });
  }
  const mine = hub;
  mine.callbacks.add(callback);
  return () => {
    if (!mine.callbacks.delete(callback) || mine.callbacks.size > 0) return;
    if (hubs.get(signal) === mine) hubs.delete(signal);
    signal.removeEventListener('abort', mine.listener);
  };
}

/**
 * Settles like `promise`, or rejects with `signal.reason` as soon as `signal` aborts, whichever comes
 * first. The work behind `promise` goes on (it may be shared); only this caller stops waiting. Watches the
 * signal through the shared listener and stops watching once settled.
 */
export function raceAbort<T>(promise: PromiseLike<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return Promise.resolve(promise);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const unwatch = onAbort(signal, () => reject(signal.reason));
    promise.then(
      (value) => {
        unwatch();
        resolve(value);
      },
      (error: unknown) => {
        unwatch();
        reject(error);
      },
    );
  });
}

/**
 * Resolves `true` once every promise in `work` has settled, or `false` when `timeoutMs` passes (never, if
 * it is Infinity) or `signal` aborts first. Never rejects; leaves no timer and no listener behind. The
 * core of every graceful close: wait for what is in flight, up to a deadline.
 */
export function settleWithin(
  work: Promise<unknown> | Iterable<Promise<unknown>>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  const all = work instanceof Promise ? work : Promise.allSettled(work);
  return new Promise((resolve) => {
    let timer: LongTimer | undefined;
    let unwatch: (() => void) | undefined;
    const finish = (settled: boolean): void => {
      clearLongTimeout(timer);
      unwatch?.();
      resolve(settled);
    };
    if (Number.isFinite(timeoutMs)) timer = setLongTimeout(() => finish(false), timeoutMs);
    if (signal !== undefined) unwatch = onAbort(signal, () => finish(false));
    all.then(
      () => finish(true),
      () => finish(true),
    );
  });
}

/** The longest delay a platform timer holds (2³¹−1 ms, about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer from `setLongTimeout`: a platform timer, or a chain of them for delays past MAX_TIMER_MS. */
export type LongTimer = ReturnType<typeof setTimeout> | LongChain;

class LongChain {
  timer: ReturnType<typeof setTimeout> | undefined;
  refed = true;
}

/**
 * `setTimeout` for any delay. Up to MAX_TIMER_MS it is exactly `setTimeout`; past it, the timer re-arms in
 * steps until the whole delay has passed, so a 30-day delay waits 30 days instead of firing at once.
 * Infinity, or a non-finite delay, never fires (returns a timer that holds nothing).
 */
export function setLongTimeout(callback: () => void, ms: number): LongTimer {
  if (ms <= MAX_TIMER_MS) return setTimeout(callback, ms);
  const chain = new LongChain();
  if (!Number.isFinite(ms)) return chain;
  const due = Date.now() + ms;
  const arm = (): void => {
    const left = due - Date.now();
    if (left <= MAX_TIMER_MS) chain.timer = setTimeout(callback, Math.max(0, left));
    else chain.timer = setTimeout(arm, MAX_TIMER_MS);
    if (!chain.refed) chain.timer.unref();
  };
  arm();
  return chain;
}

/** Cancels a timer from `setLongTimeout` (undefined is ignored). */
export function clearLongTimeout(timer: LongTimer | undefined): void {
  if (timer instanceof LongChain) {
    if (timer.timer !== undefined) clearTimeout(timer.timer);
    timer.timer = undefined;
  } else if (timer !== undefined) clearTimeout(timer);
}

/** Lets the process exit while `timer` is pending, like `Timeout.unref()`. */
export function unrefLongTimeout(timer: LongTimer): void {
  if (timer instanceof LongChain) {
    timer.refed = false;
    timer.timer?.unref();
  } else timer.unref();
}
