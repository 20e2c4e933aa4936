/** TaskGroup: tasks that live and die together; the first failure cancels the rest, and none outlives the group. */

import { onAbort, settleWithin } from '../abort.ts';
import { checkDuration, checkFunction, checkOptions, checkSignal, KeelError } from '../errors.ts';
import type { Task } from './gather.ts';

export interface TaskGroupOptions {
  /** Aborting it cancels the group: every task's signal aborts, and the group rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
  /**
   * How long closing (the end of `run`, `await using`, `[Symbol.asyncDispose]()`) waits for the tasks
   * still running, in milliseconds. Past it the group aborts them and rejects with
   * `TaskGroupCloseTimeoutError`. `close()` may give a bound of its own.
   * @default Infinity
   */
  readonly closeTimeoutMs?: number | undefined;
}

export interface TaskGroupCloseOptions {
  /**
   * How long to wait for the tasks still running, in milliseconds; past it the group aborts them and
   * `close` rejects with `TaskGroupCloseTimeoutError`.
   * @default the group's `closeTimeoutMs`
   */
  readonly timeoutMs?: number | undefined;
  /** Aborting it stops the wait the same way, but `close` rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

/** `spawn` was called on a group that has already finished. */
export class TaskGroupClosedError extends KeelError {
  constructor() {
    super('KEEL_TASK_GROUP_CLOSED', 'TaskGroup is closed: spawn tasks before the group finishes');
  }
}

/**
 * Closing the group ran past its deadline: the tasks still running were aborted (with this error as the
 * reason) and the group closed without them. `cause` is the `AggregateError` of any earlier failures.
 */
export class TaskGroupCloseTimeoutError extends KeelError {
  /** The tasks still running when the deadline passed. */
  readonly pending: number;
  readonly timeoutMs: number;

  constructor(pending: number, timeoutMs: number, failures: readonly unknown[]) {
    super(
      'KEEL_TASK_GROUP_CLOSE_TIMEOUT',
      `TaskGroup did not close within ${timeoutMs} ms; aborted ${pending} task${pending === 1 ? '' : 's'} still running`,
      failures.length === 0 ? {} : { cause: aggregate(failures) },
    );
    this.pending = pending;
    this.timeoutMs = timeoutMs;
  }
}

const OPTIONS = ['signal', 'closeTimeoutMs'] as const;
const CLOSE_OPTIONS = ['timeoutMs', 'signal'] as const;

const ignore = (): void => {};

const aggregate = (errors: readonly unknown[]): AggregateError => {
  const n = errors.length;
  return new AggregateError(errors, `${n} task${n === 1 ? '' : 's'} of the group failed`);
};

/**
 * A scope for tasks, after Python's `asyncio.TaskGroup`. Every task receives the group's signal. The first
 * task that fails aborts that signal (its error is the reason), so its siblings stop; the group then waits
 * for every task to settle and throws an `AggregateError` of the real failures. Rejections that merely
 * follow the group's own abort (the reason itself, or an `AbortError`) are not failures.
 *
 * ```ts
 * const [user, orders] = await TaskGroup.run(async (group) => {
 *   const user = group.spawn((signal) => users.get(id, { signal }));
 *   const orders = group.spawn((signal) => orders.list(id, { signal }));
 *   return [await user, await orders];
 * });
 * ```
 *
 * Closing waits for the tasks as long as `closeTimeoutMs` allows (default: no bound); past it the group
 * aborts the stragglers and rejects with `TaskGroupCloseTimeoutError`, so no task outlives a closed group
 * unwarned. `close({ timeoutMs, signal })` closes with a bound of its own.
 *
 * Or as a scope: `await using group = new TaskGroup();` waits for the group's tasks when the block ends.
 * Unlike `run`, that form cannot see an exception thrown by the block itself, so it does not cancel the
 * tasks on one: prefer `run` unless the tasks should finish regardless.
 */
export class TaskGroup implements AsyncDisposable {
  readonly #controller = new AbortController();
  readonly #errors: unknown[] = [];
  readonly #unwatch: (() => void) | undefined;
  readonly #closeTimeoutMs: number;
  #cancelled: { readonly reason: unknown } | undefined = undefined;
  #running = 0;
  #closing: Promise<void> | undefined = undefined;
  #closed = false;
  #drained: (() => void) | undefined = undefined;

  /** Runs `body` with a new group, waits for every task it spawned, and resolves with `body`'s result. */
  static run<T>(
    body: (group: TaskGroup) => T | PromiseLike<T>,
    options?: TaskGroupOptions,
  ): Promise<Awaited<T>> {
    checkOptions('TaskGroup.run() options', options, OPTIONS);
    checkFunction('TaskGroup.run() body', body);
    return TaskGroup.#run(body, new TaskGroup(options));
  }

  static async #run<T>(
    body: (group: TaskGroup) => T | PromiseLike<T>,
    group: TaskGroup,
  ): Promise<Awaited<T>> {
    let result: Awaited<T> | undefined;
    try {
      result = await body(group);
    } catch (error) {
      group.#fail(error);
    }
    await group[Symbol.asyncDispose]();
    return result as Awaited<T>;
  }

  constructor(options?: TaskGroupOptions) {
    checkOptions('TaskGroup options', options, OPTIONS);
    const signal = options?.signal;
    checkSignal('TaskGroup signal', signal);
    this.#closeTimeoutMs = checkDuration(
      'TaskGroup closeTimeoutMs',
      options?.closeTimeoutMs === undefined ? Number.POSITIVE_INFINITY : options.closeTimeoutMs,
    );
    if (signal?.aborted) this.#cancel(signal.reason);
    else if (signal !== undefined) this.#unwatch = onAbort(signal, () => this.#cancel(signal.reason));
  }

  /** The signal every task receives: it aborts on the first failure, on `abort()` and on the parent's abort. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The number of tasks not yet settled. */
  get size(): number {
    return this.#running;
  }

  /** Whether the group has finished (no task may be spawned any more). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts `task` now with the group's signal and returns its promise (awaiting it is optional: the group
   * keeps track of its failure either way). Once the group is cancelled, the task does not start and the
   * promise rejects with the group's abort reason; once the group is closed, spawning throws
   * `TaskGroupClosedError`.
   */
  spawn<T>(task: Task<T>): Promise<Awaited<T>> {
    checkFunction('TaskGroup.spawn() task', task);
    if (this.#closed) throw new TaskGroupClosedError();
    const signal = this.#controller.signal;
    if (signal.aborted) {
      const refused = Promise.reject(signal.reason);
      refused.catch(ignore);
      return refused;
    }
    let value: T | PromiseLike<T>;
    try {
      value = task(signal);
    } catch (error) {
      value = Promise.reject(error);
    }
    const promise = Promise.resolve(value);
    this.#running++;
    promise.then(
      () => this.#settled(),
      (error: unknown) => {
        this.#fail(error);
        this.#settled();
      },
    );
    return promise;
  }

  /** Cancels the group: every task's signal aborts with `reason`, and the group rejects with it. */
  abort(reason?: unknown): void {
    this.#cancel(
      reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason,
    );
  }

  /**
   * Waits for every task, including those spawned while waiting, then closes the group. Rejects with an
   * `AggregateError` of the failures if any task failed, otherwise with the abort reason if the group was
   * cancelled. Bounded by the group's `closeTimeoutMs`, as `close()` describes.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Closes the group as disposal does, waiting at most `timeoutMs` (default: the group's
   * `closeTimeoutMs`). When the deadline passes, or `signal` aborts, first, the group aborts the tasks
   * still running (the reason is the `TaskGroupCloseTimeoutError`, or the signal's reason), closes at
   * once, and rejects with that error. Tasks that stop later are not waited for; their failures are
   * handled, never unhandled.
   */
  close(options?: TaskGroupCloseOptions): Promise<void> {
    checkOptions('TaskGroup.close() options', options, CLOSE_OPTIONS);
    const timeoutMs = checkDuration(
      'TaskGroup.close() timeoutMs',
      options?.timeoutMs === undefined ? this.#closeTimeoutMs : options.timeoutMs,
    );
    const signal = options?.signal;
    checkSignal('TaskGroup.close() signal', signal);
    this.#closing ??= this.#close();
    if (this.#running === 0 || (timeoutMs === Number.POSITIVE_INFINITY && signal === undefined)) {
      return this.#closing;
    }
    return this.#closeWithin(timeoutMs, signal);
  }

  async #closeWithin(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const closing = this.#closing as Promise<void>;
    if (await settleWithin(closing, timeoutMs, signal)) return closing;
    // The stragglers are told to stop and left behind; what they settle with later is handled here.
    closing.catch(ignore);
    const error = signal?.aborted
      ? signal.reason
      : new TaskGroupCloseTimeoutError(this.#running, timeoutMs, this.#errors);
    this.#closed = true;
    this.#unwatch?.();
    if (!this.#controller.signal.aborted) this.#controller.abort(error);
    throw error;
  }

  async #close(): Promise<void> {
    if (this.#running > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    // Closed in the same turn as the last task settled (see #settled), so no spawn can slip in between.
    this.#closed = true;
    this.#unwatch?.();
    if (this.#errors.length > 0) throw aggregate(this.#errors);
    if (this.#cancelled !== undefined) throw this.#cancelled.reason;
  }

  #settled(): void {
    if (--this.#running === 0 && this.#closing !== undefined) {
      this.#closed = true;
      const drained = this.#drained;
      this.#drained = undefined;
      drained?.();
    }
  }

  #fail(error: unknown): void {
    if (this.#causedByAbort(error) || this.#errors.includes(error)) return;
    this.#errors.push(error);
    if (!this.#controller.signal.aborted) this.#controller.abort(error);
  }

  #cancel(reason: unknown): void {
    if (this.#controller.signal.aborted) return;
    this.#cancelled = { reason };
    this.#controller.abort(reason);
  }

  /** Whether a rejection is only the echo of the group's own abort, not a failure of its own. */
  #causedByAbort(error: unknown): boolean {
    const signal = this.#controller.signal;
    if (!signal.aborted) return false;
    if (error === signal.reason) return true;
    if (typeof error !== 'object' || error === null) return false;
    const { name, cause } = error as { name?: unknown; cause?: unknown };
    return name === 'AbortError' || (cause !== undefined && cause === signal.reason);
  }
}
