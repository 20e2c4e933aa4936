/** sleep(): a timer as a promise that an abort cancels, timer and all. */

import { onAbort } from '../abort.ts';
import { checkOptions, checkSignal } from '../errors.ts';
import { checkDelay } from './delay.ts';

export interface SleepOptions {
  /** Aborting it clears the timer and rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

/** Resolves after `ms` milliseconds (0 to 2³¹−1); an abort clears the timer and rejects at once. */
export function sleep(ms: number, options?: SleepOptions): Promise<void> {
  checkOptions('sleep() options', options);
  checkDelay('sleep() ms', ms);
  const signal = options?.signal;
  checkSignal('sleep() signal', signal);
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    let unwatch: (() => void) | undefined;
    const timer = setTimeout(() => {
      unwatch?.();
      resolve();
    }, ms);
    if (signal !== undefined) {
      unwatch = onAbort(signal, () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    }
  });
}
