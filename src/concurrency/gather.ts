/** gather(): run task functions concurrently, optionally at most N at once, and collect results in input order. */

import { onAbort } from '../abort.ts';
import { checkCount, checkOptions, checkSignal, describe, InvalidArgumentError } from '../errors.ts';

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
  /**
   * Report every task's outcome as a `PromiseSettledResult` instead of rejecting on the first failure
   * (Python's `return_exceptions=True`). An abort of `signal` still rejects the whole gather.
   * @default false
   */
  readonly settle?: boolean | undefined;
}

export type GatherResults<T extends readonly Task[]> = {
  -readonly [K in keyof T]: Awaited<ReturnType<T[K]>>;
};

export type GatherSettledResults<T extends readonly Task[]> = {
  -readonly [K in keyof T]: PromiseSettledResult<Awaited<ReturnType<T[K]>>>;
};

/**
 * Runs `tasks` and resolves to their results in input order, like Python's `asyncio.gather`. With a
 * `concurrency` limit, tasks start in input order as earlier ones finish. The first failure rejects the
 * whole gather with that error, starts no further task and aborts the signal the running tasks received.
 * With `settle: true` every task runs and each outcome is reported, fulfilled or rejected.
 */
export function gather<const T extends readonly Task[]>(
  tasks: T,
  options: GatherOptions & { readonly settle: true },
): Promise<GatherSettledResults<T>>;
export function gather<const T extends readonly Task[]>(
  tasks: T,
  options?: GatherOptions & { readonly settle?: false | undefined },
): Promise<GatherResults<T>>;
export function gather<const T extends readonly Task[]>(
  tasks: T,
  options?: GatherOptions,
): Promise<GatherResults<T> | GatherSettledResults<T>>;
export function gather(tasks: readonly Task[], options: GatherOptions = {}): Promise<unknown[]> {
  checkOptions('gather() options', options, ['concurrency', 'signal', 'settle']);
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
  const concurrency = checkCount(
    'gather() concurrency',
    options.concurrency === undefined ? Number.POSITIVE_INFINITY : options.concurrency,
    {
      allowInfinity: true,
    },
  );
  const { signal } = options;
  checkSignal('gather() signal', signal);
  const settle = options.settle === undefined ? false : options.settle;
  if (typeof settle !== 'boolean') {
    throw new InvalidArgumentError(`gather() settle must be a boolean; received ${describe(settle)}`);
  }
  if (signal?.aborted) return Promise.reject(signal.reason);
  const total = tasks.length;
  if (total === 0) return Promise.resolve([]);

  return new Promise<unknown[]>((resolve, reject) => {
    const controller = new AbortController();
    let over = false;
    let unwatch: (() => void) | undefined;
    const fail = (error: unknown): void => {
      if (over) return;
      over = true;
      unwatch?.();
      controller.abort(error);
      reject(error);
    };
    const succeed = (results: unknown[]): void => {
      if (over) return;
      over = true;
      unwatch?.();
      resolve(results);
    };
    if (signal !== undefined) unwatch = onAbort(signal, () => fail(signal.reason));
    if (concurrency >= total) startAll(tasks, controller.signal, settle, succeed, fail, () => over);
    else startWorkers(tasks, concurrency, controller.signal, settle, succeed, fail, () => over);
  });
}

/** Without an effective limit every task starts now and the engine's own combinators collect them. */
function startAll(
  tasks: readonly Task[],
  signal: AbortSignal,
  settle: boolean,
  succeed: (results: unknown[]) => void,
  fail: (error: unknown) => void,
  isOver: () => boolean,
): void {
  const total = tasks.length;
  const values = new Array<unknown>(total);
  for (let i = 0; i < total; i++) {
    try {
      values[i] = (tasks[i] as Task)(signal);
    } catch (error) {
      if (settle) values[i] = Promise.reject(error);
      else fail(error);
    }
    // A task may end the gather as it starts (a synchronous throw, or aborting the caller's signal).
    if (isOver()) {
      // The tasks already started may still reject; those outcomes are moot but must not go unhandled.
      Promise.allSettled(values.slice(0, i + 1));
      return;
    }
  }
  if (settle) Promise.allSettled(values).then(succeed, fail);
  else Promise.all(values).then(succeed, fail);
}

/**
 * With a limit, `concurrency` workers each take the next task in input order until none is left. An
 * `await` inside a worker costs less than a `then` with fresh callbacks per task, and the slot a task
 * frees is refilled by the same worker without any bookkeeping.
 */
function startWorkers(
  tasks: readonly Task[],
  concurrency: number,
  signal: AbortSignal,
  settle: boolean,
  succeed: (results: unknown[]) => void,
  fail: (error: unknown) => void,
  isOver: () => boolean,
): void {
  const total = tasks.length;
  const results = new Array<unknown>(total);
  let next = 0;
  let workers = concurrency;
  const work = settle
    ? async (): Promise<void> => {
        while (next < total && !isOver()) {
          const index = next++;
          try {
            results[index] = { status: 'fulfilled', value: await (tasks[index] as Task)(signal) };
          } catch (reason) {
            results[index] = { status: 'rejected', reason };
          }
        }
        if (--workers === 0) succeed(results);
      }
    : async (): Promise<void> => {
        while (next < total && !isOver()) {
          const index = next++;
          try {
            results[index] = await (tasks[index] as Task)(signal);
          } catch (error) {
            fail(error);
            return;
          }
        }
        if (--workers === 0) succeed(results);
      };
  for (let i = 0; i < concurrency; i++) work();
}
