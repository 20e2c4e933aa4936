/**
 * The ground floor's abort plumbing: one abort listener per caller signal, shared by every pending
 * operation that watches it, and a race of a promise against a signal built on it.
 */

// Each signal gets a single listener however many operations wait on it, so thousands of tasks sharing
// one long-lived signal never trip MaxListenersExceededWarning; the listener leaves with the last watcher.
// The hub hangs on the signal under a symbol (no weak map to look it up in), is itself the listener
// (`handleEvent`, no closure), and holds its first watcher apart, so a signal watched once (a request's)
// costs one small object and one add and remove of a listener.
const kHub = Symbol('keel.abortHub');

type Hubbed = AbortSignal & { [kHub]?: Hub | undefined };

class Hub {
  readonly signal: Hubbed;
  first: (() => void) | undefined;
  rest: Set<() => void> | undefined;

  constructor(signal: Hubbed) {
    this.signal = signal;
  }

  handleEvent(): void {
    // An abort happens once: the listener leaves now (cheaper than a `once` option on every add).
    this.signal.removeEventListener('abort', this);
    this.signal[kHub] = undefined;
    const callbacks = this.first === undefined ? [] : [this.first];
    if (this.rest !== undefined) callbacks.push(...this.rest);
    this.first = undefined;
    this.rest = undefined;
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
  }

  add(callback: () => void): void {
    if (this.first === undefined && this.rest === undefined) this.first = callback;
    else (this.rest ??= new Set()).add(callback);
  }

  /** Takes `callback` out; true when it was the last one. */
  remove(callback: () => void): boolean {
    if (this.first === callback) this.first = undefined;
    else if (this.rest === undefined || !this.rest.delete(callback)) return false;
    return this.first === undefined && (this.rest === undefined || this.rest.size === 0);
  }
}

/**
 * Calls `callback` once when `signal` aborts. Returns a function that stops watching (idempotent); call
 * it when the operation settles. The signal must not be aborted yet: callers check `aborted` first.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  const hubbed = signal as Hubbed;
  let hub = hubbed[kHub];
  if (hub === undefined) {
    hub = new Hub(hubbed);
    hubbed[kHub] = hub;
    signal.addEventListener('abort', hub);
  }
  const mine = hub;
  // A callback may watch twice; each watch is its own (a wrapper keeps them apart when it does).
  const watcher = mine.first === callback || mine.rest?.has(callback) ? () => callback() : callback;
  mine.add(watcher);
  let watching = true;
  return () => {
    if (!watching) return;
    watching = false;
    if (!mine.remove(watcher)) return;
    if (hubbed[kHub] === mine) hubbed[kHub] = undefined;
    signal.removeEventListener('abort', mine);
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
