/** timeout(): a deadline that stops the work (its signal aborts) rather than abandoning it. */

import { clearLongTimeout, type LongTimer, onAbort, setLongTimeout } from '../abort.ts';
import { checkDuration, checkFunction, checkOptions, checkSignal, KeelError } from '../errors.ts';

/** The work did not finish before its deadline. Retryable: the same call may well succeed next time. */
export class TimeoutError extends KeelError {
  /** The deadline that passed, in milliseconds. */
  readonly ms: number;

  constructor(ms: number) {
    super('KEEL_TIMEOUT', `Timed out after ${ms} ms`, { retryable: true });
    this.ms = ms;
  }
}

export interface TimeoutOptions {
  /** Aborting it aborts the work's signal too and rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Runs `fn` with a signal that aborts after `ms` milliseconds (with a `TimeoutError` as its reason), and
 * settles like `fn` if it finishes first. At the deadline the promise rejects with `TimeoutError` at once,
 * whether or not `fn` has stopped yet; whatever `fn` settles with later is ignored.
 *
 * ```ts
 * const body = await timeout((signal) => fetch(url, { signal }).then((r) => r.text()), 2000);
 * ```
 */
export function timeout<T>(
  fn: (signal: AbortSignal) => T | PromiseLike<T>,
  ms: number,
  options?: TimeoutOptions,
): Promise<Awaited<T>> {
  checkOptions('timeout() options', options, ['signal']);
  checkFunction('timeout() fn', fn);
  // Infinity means no deadline; a finite one past 2³¹−1 ms is chained by setLongTimeout, never cut short.
  checkDuration('timeout() ms', ms);
  const signal = options?.signal;
  checkSignal('timeout() signal', signal);
  if (signal?.aborted) return Promise.reject(signal.reason);

  return new Promise<Awaited<T>>((resolve, reject) => {
    const controller = new AbortController();
    let over = false;
    let unwatch: (() => void) | undefined;
    const stop = (reason: unknown): void => {
      if (over) return;
      over = true;
      clearLongTimeout(timer);
      unwatch?.();
      controller.abort(reason);
      reject(reason);
    };
    const timer: LongTimer | undefined = Number.isFinite(ms)
      ? setLongTimeout(() => stop(new TimeoutError(ms)), ms)
      : undefined;
    if (signal !== undefined) unwatch = onAbort(signal, () => stop(signal.reason));

    let value: T | PromiseLike<T>;
    try {
      value = fn(controller.signal);
    } catch (error) {
      value = Promise.reject(error);
    }
    Promise.resolve(value).then(
      (result) => {
        if (over) return;
        over = true;
        clearLongTimeout(timer);
        unwatch?.();
        resolve(result);
      },
      (error: unknown) => {
        if (over) return;
        over = true;
        clearLongTimeout(timer);
        unwatch?.();
        reject(error);
      },
    );
  });
}
