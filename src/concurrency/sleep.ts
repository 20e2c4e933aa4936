/** sleep(): a timer as a promise that an abort cancels, timer and all. */

import { clearLongTimeout, onAbort, setLongTimeout } from '../abort.ts';
import { checkDuration, checkOptions, checkSignal } from '../errors.ts';

export interface SleepOptions {
  /** Aborting it clears the timer and rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Resolves after `ms` milliseconds (any finite number ≥ 0; delays past 2³¹−1 ms are chained, never cut
 * short); an abort clears the timer and rejects at once.
 */
export function sleep(ms: number, options?: SleepOptions): Promise<void> {
  checkOptions('sleep() options', options, ['signal']);
  checkDuration('sleep() ms', ms, { allowInfinity: false });
  const signal = options?.signal;
  checkSignal('sleep() signal', signal);
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    let unwatch: (() => void) | undefined;
    const timer = setLongTimeout(() => {
      unwatch?.();
      resolve();
    }, ms);
    if (signal !== undefined) {
      unwatch = onAbort(signal, () => {
        clearLongTimeout(timer);
        reject(signal.reason);
      });
    }
  });
}
