/** gather(): run task functions concurrently, optionally at most N at once, and collect results in input order. */
import { checkCount, checkSignal, describe, InvalidArgumentError } from '../errors.ts';

/** A task starts its work when called; its signal aborts when gather gives up (a failure or an abort). */
export type Task<T = unknown> = (signal: AbortSignal) => T | PromiseLike<T>;

export interface GatherOptions {
  /**
   * The most tasks running at once.
   * @default Infinity
   */
  readonly concurrency?: number | undefined;
  /** Aborting it stops starting tasks, aborts the running ones' signals and rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

export type GatherResults<T extends readonly Task[]> = {
  -readonly [K in keyof T]: Awaited<ReturnType<T[K]>>;
};

/**
 * Runs `tasks` and resolves to their results in input order, like Python's `asyncio.gather`. With a
 * `concurrency` limit, tasks start in input order as earlier ones finish. The first failure rejects the
 * whole gather with that error, starts no further task and aborts the signal the running tasks received.
 */
export function gather<const T extends readonly Task[]>(
  tasks: T,
  options: GatherOptions = {},
): Promise<GatherResults<T>> {
  if (!Array.isArray(tasks)) {
    throw new InvalidArgumentError(
      `gather() tasks must be an array of functions; received ${describe(tasks)}`,
    );
  }
  for (let i = 0; i < tasks.length; i++) {
    if (typeof tasks[i] !== 'function') {
      throw new InvalidArgumentError(
        `gather() tasks[${i}] must be a function that starts the task; received ${describe(tasks[i])}`,
      );
    }
  }
  const concurrency = checkCount('gather() concurrency', options.concurrency ?? Number.POSITIVE_INFINITY, {
    allowInfinity: true,
  });
  const { signal } = options;
  checkSignal('gather() signal', signal);
  if (signal?.aborted) return Promise.reject(signal.reason);

  const total = tasks.length;
  const results = new Array(total);
  if (total === 0) return Promise.resolve(results as GatherResults<T>);
  const controller = new AbortController();

  return new Promise<GatherResults<T>>((resolve, reject) => {
    let next = 0;
    let done = 0;
    let over = false;
    const finish = (error: unknown, failed: boolean): void => {
      if (over) return;
      over = true;
      signal?.removeEventListener('abort', onAbort);
      if (failed) {
        controller.abort(error);
        reject(error);
      } else resolve(results as GatherResults<T>);
    };
    const onAbort = (): void => finish(signal?.reason, true);
    signal?.addEventListener('abort', onAbort, { once: true });

    const start = (index: number): void => {
      let value: unknown;
      try {
        value = (tasks[index] as Task)(controller.signal);
      } catch (error) {
        finish(error, true);
        return;
      }
      if (
        value !== null &&
        typeof value === 'object' &&
        typeof (value as PromiseLike<unknown>).then === 'function'
      ) {
        (value as PromiseLike<unknown>).then(
          (result) => settle(index, result),
          (error: unknown) => finish(error, true),
        );
      } else {
        // A synchronous result still completes on a later microtask, so the order of starts stays fair.
        queueMicrotask(() => settle(index, value));
      }
    };
    const settle = (index: number, value: unknown): void => {
      if (over) return;
      results[index] = value;
      done++;
      if (done === total) finish(undefined, false);
      else if (next < total) start(next++);
    };

    const first = Math.min(concurrency, total);
    while (next < first && !over) start(next++);
  });
}
