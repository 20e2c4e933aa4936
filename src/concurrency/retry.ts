/** retry(): try again with exponential backoff and full jitter, until success, a final error or an abort. */

import { onAbort } from '../abort.ts';
import {
  checkCount,
  checkDuration,
  checkFunction,
  checkOptions,
  checkSignal,
  describe,
  InvalidArgumentError,
} from '../errors.ts';
import { sleep } from './sleep.ts';

export interface RetryOptions {
  /**
   * How many tries in all, the first included (Infinity: until success or abort).
   * @default 3
   */
  readonly attempts?: number | undefined;
  /**
   * The delay before the second try, in milliseconds; each later one is `factor` times longer.
   * @default 100
   */
  readonly minDelay?: number | undefined;
  /**
   * The longest delay between tries, in milliseconds.
   * @default 30000
   */
  readonly maxDelay?: number | undefined;
  /**
   * How much each delay grows over the one before (1 keeps it constant).
   * @default 2
   */
  readonly factor?: number | undefined;
  /**
   * Full jitter: wait a random time between 0 and the computed delay, so that many clients failing
   * together do not retry together. `false` waits exactly the computed delay.
   * @default true
   */
  readonly jitter?: boolean | undefined;
  /**
   * Whether a failure is worth another try. Never consulted for an error with `retryable: false` (such
   * as most of Keel's own), which always ends the retries. Without it, every other failure is retried.
   */
  readonly retryIf?: ((error: unknown, attempt: number) => boolean) | undefined;
  /** Aborting it stops at once, during a try or a wait, and rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Calls `fn` until it succeeds, waiting longer after each failure, and settles with its result or with
 * the last failure. `fn` receives a signal (the one given, or one of retry's own) and the try's number,
 * counted from 1.
 *
 * ```ts
 * const user = await retry((signal) => api.getUser(id, { signal }), { attempts: 5, signal });
 * ```
 */
export function retry<T>(
  fn: (signal: AbortSignal, attempt: number) => T | PromiseLike<T>,
  options: RetryOptions = {},
): Promise<Awaited<T>> {
  checkOptions('retry() options', options, [
    'attempts',
    'minDelay',
    'maxDelay',
    'factor',
    'jitter',
    'retryIf',
    'signal',
  ]);
  checkFunction('retry() fn', fn);
  const attempts = checkCount('retry() attempts', options.attempts === undefined ? 3 : options.attempts, {
    allowInfinity: true,
  });
  // Any finite delay is valid: sleep() chains timers past 2³¹−1 ms rather than letting one wrap to 1 ms.
  const finite = { allowInfinity: false };
  const minDelay = checkDuration(
    'retry() minDelay',
    options.minDelay === undefined ? 100 : options.minDelay,
    finite,
  );
  const maxDelay = checkDuration(
    'retry() maxDelay',
    options.maxDelay === undefined ? 30_000 : options.maxDelay,
    finite,
  );
  if (maxDelay < minDelay) {
    throw new InvalidArgumentError(
      `retry() maxDelay must be at least minDelay (${minDelay}); received ${describe(maxDelay)}`,
    );
  }
  const factor = options.factor === undefined ? 2 : options.factor;
  if (typeof factor !== 'number' || !(factor >= 1 && factor < Number.POSITIVE_INFINITY)) {
    throw new InvalidArgumentError(
      `retry() factor must be a finite number ≥ 1; received ${describe(factor)}`,
    );
  }
  const jitter = options.jitter === undefined ? true : options.jitter;
  if (typeof jitter !== 'boolean') {
    throw new InvalidArgumentError(`retry() jitter must be a boolean; received ${describe(jitter)}`);
  }
  const { retryIf, signal } = options;
  if (retryIf !== undefined) checkFunction('retry() retryIf', retryIf);
  checkSignal('retry() signal', signal);
  if (signal?.aborted) return Promise.reject(signal.reason);

  const delay = (attempt: number): number => {
    // Growth stops at maxDelay; once factor ** n overflows, 0 × Infinity would be NaN, so cap the growth first.
    const growth = factor ** (attempt - 1);
    const ceiling = minDelay === 0 ? 0 : Math.min(maxDelay, minDelay * Math.min(growth, maxDelay / minDelay));
    return jitter ? Math.random() * ceiling : ceiling;
  };
  const shouldRetry = (error: unknown, attempt: number): boolean => {
    if (attempt >= attempts) return false;
    if (typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === false)
      return false;
    return retryIf === undefined || retryIf(error, attempt) === true;
  };
  return loop(fn, signal ?? new AbortController().signal, signal, delay, shouldRetry);
}

async function loop<T>(
  fn: (signal: AbortSignal, attempt: number) => T | PromiseLike<T>,
  taskSignal: AbortSignal,
  signal: AbortSignal | undefined,
  delay: (attempt: number) => number,
  shouldRetry: (error: unknown, attempt: number) => boolean,
): Promise<Awaited<T>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await once(fn, taskSignal, signal, attempt);
    } catch (error) {
      // An abort ends everything, even if the attempt failed for some other reason as it stopped.
      if (signal?.aborted) throw signal.reason;
      if (!shouldRetry(error, attempt)) throw error;
    }
    await sleep(delay(attempt), { signal });
  }
}

/** One try, which an abort cuts short at once even if `fn` does not listen to its signal. */
function once<T>(
  fn: (signal: AbortSignal, attempt: number) => T | PromiseLike<T>,
  taskSignal: AbortSignal,
  signal: AbortSignal | undefined,
  attempt: number,
): Promise<Awaited<T>> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const value = Promise.resolve(fn(taskSignal, attempt));
  if (signal === undefined) return value;
  if (signal.aborted) {
    value.catch(ignore);
    return Promise.reject(signal.reason);
  }
  return new Promise<Awaited<T>>((resolve, reject) => {
    const unwatch = onAbort(signal, () => reject(signal.reason));
    value.then(
      (result) => {
        unwatch();
        resolve(result);
      },
      (error: unknown) => {
        unwatch();
        reject(error);
      },
    );
  });
}

const ignore = (): void => {};
