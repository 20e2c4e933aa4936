/** Pool: a long-lived limit on how many tasks run at once, with a bounded queue and backpressure. */

import { onAbort, settleWithin } from '../abort.ts';
import { checkCount, checkDuration, checkFunction, checkOptions, checkSignal, KeelError } from '../errors.ts';
import type { Task } from './gather.ts';

export interface PoolOptions {
  /** The most tasks running at once; settable later through `pool.concurrency`. */
  readonly concurrency: number;
  /**
   * The most tasks waiting for a slot (running tasks are not counted). Past it `run` rejects with
   * `PoolFullError`; `onSpace()` says when to try again.
   * @default Infinity
   */
  readonly maxQueued?: number | undefined;
  /**
   * How long disposal (`await using`, `pool[Symbol.asyncDispose]()`) waits for the aborted running tasks
   * to settle, in milliseconds; past it disposal rejects with `PoolCloseTimeoutError`. `close()` may
   * give a bound of its own.
   * @default Infinity
   */
  readonly closeTimeoutMs?: number | undefined;
}

export interface PoolCloseOptions {
  /**
   * How long to wait for the running tasks to settle once they are aborted, in milliseconds; past it
   * `close` rejects with `PoolCloseTimeoutError`.
   * @default the pool's `closeTimeoutMs`
   */
  readonly timeoutMs?: number | undefined;
  /** Aborting it stops the wait (the pool stays closed) and rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

export interface PoolRunOptions {
  /**
   * Aborting it removes the task if it is still queued (it never runs), or aborts the signal the running
   * task received; either way `run` rejects with the signal's reason at once.
   */
  readonly signal?: AbortSignal | undefined;
}

export interface PoolWaitOptions {
  /** Aborting it stops the wait and rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

/** `run` was called while the queue held `maxQueued` tasks: back off, or wait for `onSpace()`. */
export class PoolFullError extends KeelError {
  readonly maxQueued: number;

  constructor(maxQueued: number) {
    super(
      'KEEL_POOL_FULL',
      `Pool queue is full (maxQueued ${maxQueued}); wait for onSpace() before adding tasks`,
      { retryable: true },
    );
    this.maxQueued = maxQueued;
  }
}

/** A queued task was removed by `clear()` before it started. */
export class PoolClearedError extends KeelError {
  constructor() {
    super('KEEL_POOL_CLEARED', 'Pool was cleared before this task started', { retryable: true });
  }
}

/** The pool was disposed: queued tasks never start, running tasks are aborted, new tasks are refused. */
export class PoolClosedError extends KeelError {
  constructor() {
    super('KEEL_POOL_CLOSED', 'Pool is closed');
  }
}

/** Closing the pool ran past its deadline while tasks that ignore their abort were still running. */
export class PoolCloseTimeoutError extends KeelError {
  /** The tasks still running when the deadline passed. */
  readonly pending: number;
  readonly timeoutMs: number;

  constructor(pending: number, timeoutMs: number) {
    super(
      'KEEL_POOL_CLOSE_TIMEOUT',
      `Pool did not close within ${timeoutMs} ms: ${pending} aborted task${pending === 1 ? '' : 's'} still running`,
      { retryable: true },
    );
    this.pending = pending;
    this.timeoutMs = timeoutMs;
  }
}

const OPTIONS = ['concurrency', 'maxQueued', 'closeTimeoutMs'] as const;
const RUN_OPTIONS = ['signal'] as const;
const WAIT_OPTIONS = ['signal'] as const;
const CLOSE_OPTIONS = ['timeoutMs', 'signal'] as const;

/** The extras of a task run with a signal of its own; most tasks have none and skip this allocation. */
interface Watch {
  unwatch: (() => void) | undefined;
  controller: AbortController | undefined;
}

// A job's life: waiting in the queue, handed a slot (its caller's continuation has not run yet), running,
// or dropped (aborted or refused before it started).
const QUEUED = 0;
const HANDED = 1;
const RUNNING = 2;
const DROPPED = 3;

/** One call to `run`: its task (until started), the promise's settle functions, its place in the queue. */
class Job {
  fn: Task | undefined;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
  prev: Job | undefined;
  next: Job | undefined;
  watch: Watch | undefined;
  state: number;
  /** Settle the job's gate: opening hands it a slot; failing removes it for good (set when it queues). */
  open: (value: Job) => void;
  fail: (reason: unknown) => void;
  /** The worker that handed this job its slot, which runs it once the gate opens. */
  execute: (job: Job) => Promise<unknown> | undefined;

  // Plain assignments rather than field initialisers: this runs once per task on the hot path.
  constructor(fn: Task) {
    this.fn = fn;
    this.resolve = noop;
    this.reject = noop;
    this.prev = undefined;
    this.next = undefined;
    this.watch = undefined;
    this.state = QUEUED;
    this.open = noop;
    this.fail = noop;
    this.execute = noop as (job: Job) => undefined;
  }
}

interface Waiter {
  readonly resolve: () => void;
  unwatch: (() => void) | undefined;
}

const noop = (): void => {};

// One executor shared by every run(): it hands the new promise's settle functions to the job being built,
// sparing a closure per task.
let constructing: Job | undefined;
const capture = (resolve: (value: never) => void, reject: (reason: unknown) => void): void => {
  const job = constructing as Job;
  job.resolve = resolve as (value: unknown) => void;
  job.reject = reject;
};
// Likewise for a queued job's gate: the promise its caller's continuation waits on.
const captureGate = (open: (value: Job) => void, fail: (reason: unknown) => void): void => {
  const job = constructing as Job;
  job.open = open;
  job.fail = fail;
};
// The gate's continuation, shared by every job: `then` was called inside `run`, so this runs in the async
// context of run()'s caller — its AsyncLocalStorage values, its trace — not in that of whoever freed the
// slot. For a task run without a signal, what it returns settles the promise `run` returned.
const startHanded = (job: Job): Promise<unknown> | undefined => {
  const settled = job.execute(job);
  return job.watch === undefined ? settled : undefined;
};

/**
 * Runs tasks with at most `concurrency` at once; the rest wait in FIFO order.
 *
 * ```ts
 * await using pool = new Pool({ concurrency: 10, maxQueued: 1000 });
 * const page = await pool.run((signal) => fetch(url, { signal }));
 * ```
 *
 * A task starts at once (synchronously, inside `run`) when a slot is free; a queued task starts a microtask
 * after its slot frees, in the async context of its own caller of `run` (AsyncLocalStorage values hold).
 * Each task receives a signal:
 * the `signal` given to `run` when there is one, linked to the pool's own; otherwise the pool's signal,
 * which aborts when the pool is disposed. Closing the pool (`await pool.close({ timeoutMs })`,
 * `await using`, or `await pool[Symbol.asyncDispose]()`) rejects the queued tasks, aborts the running
 * ones and waits for them to settle, up to the deadline.
 */
export class Pool implements AsyncDisposable {
  #concurrency: number;
  readonly #maxQueued: number;
  readonly #closeTimeoutMs: number;
  #running = 0;
  #queued = 0;
  #head: Job | undefined = undefined;
  #tail: Job | undefined = undefined;
  #closed = false;
  readonly #controller = new AbortController();
  // Read once: the controller's getter would otherwise run for every task started.
  readonly #signal = this.#controller.signal;
  #idleWaiters = new Set<Waiter>();
  #spaceWaiters = new Set<Waiter>();

  constructor(options: PoolOptions) {
    checkOptions('Pool options', options, OPTIONS);
    this.#concurrency = checkCount('Pool concurrency', options?.concurrency, { allowInfinity: true });
    this.#maxQueued = checkCount(
      'Pool maxQueued',
      options.maxQueued === undefined ? Number.POSITIVE_INFINITY : options.maxQueued,
      {
        min: 0,
        allowInfinity: true,
      },
    );
    this.#closeTimeoutMs = checkDuration(
      'Pool closeTimeoutMs',
      options.closeTimeoutMs === undefined ? Number.POSITIVE_INFINITY : options.closeTimeoutMs,
    );
  }

  /** The most tasks running at once. Raising it starts queued tasks now; lowering it lets running ones finish. */
  get concurrency(): number {
    return this.#concurrency;
  }

  set concurrency(value: number) {
    this.#concurrency = checkCount('Pool concurrency', value, { allowInfinity: true });
    while (this.#running < this.#concurrency && this.#head !== undefined) this.#startWorker(undefined);
  }

  /** The most tasks waiting for a slot. */
  get maxQueued(): number {
    return this.#maxQueued;
  }

  /** The number of tasks waiting for a slot. */
  get size(): number {
    return this.#queued;
  }

  /** The number of tasks running now. */
  get pending(): number {
    return this.#running;
  }

  /** Whether the pool was disposed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs `fn` when a slot is free and settles like it. Rejects with `PoolFullError` if the queue is full,
   * with `PoolClearedError` if `clear()` removes it, with `PoolClosedError` if the pool is disposed first.
   */
  run<T>(fn: Task<T>, options?: PoolRunOptions): Promise<T> {
    if (options !== undefined) checkOptions('Pool.run() options', options, RUN_OPTIONS);
    checkFunction('Pool.run() fn', fn);
    const signal = options?.signal;
    checkSignal('Pool.run() signal', signal);
    if (this.#closed) return Promise.reject(new PoolClosedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    // A queued job exists only while every slot is taken, so a free slot means nobody is waiting for it.
    const free = this.#running < this.#concurrency;
    if (!free && this.#queued >= this.#maxQueued) {
      return Promise.reject(new PoolFullError(this.#maxQueued));
    }
    const job = new Job(fn as Task);
    if (signal === undefined && !free) {
      // Without a signal nothing can reject the promise before the task settles, so a queued task needs
      // no promise of its own: it hands back its gate's `then`, which settles like the task once it has
      // run (and, being a promise of its own, still reports a failure nobody handles).
      constructing = job;
      // The gate: the worker that frees a slot opens it, and the task then starts in this caller's
      // context. A `then` costs a fraction of AsyncLocalStorage.snapshot() or AsyncResource.bind.
      const result = new Promise<Job>(captureGate).then(startHanded) as Promise<T>;
      constructing = undefined;
      this.#enqueue(job);
      return result;
    }
    constructing = job;
    const promise = new Promise<T>(capture);
    if (!free) {
      // A gate as above; an abort rejects `promise` at once, so this gate is never failed.
      new Promise<Job>(captureGate).then(startHanded);
      this.#enqueue(job);
    }
    constructing = undefined;
    if (signal !== undefined) {
      const watch: Watch = { unwatch: undefined, controller: undefined };
      job.watch = watch;
      watch.unwatch = onAbort(signal, () => this.#abort(job, signal.reason));
    }
    if (free) this.#startWorker(job);
    return promise;
  }

  #enqueue(job: Job): void {
    if (this.#tail === undefined) this.#head = job;
    else {
      this.#tail.next = job;
      job.prev = this.#tail;
    }
    this.#tail = job;
    this.#queued++;
  }

  /** Resolves when `run` would accept a task (a free slot or room in the queue); at once if it would now. */
  onSpace(options?: PoolWaitOptions): Promise<void> {
    checkOptions('Pool.onSpace() options', options, WAIT_OPTIONS);
    return this.#wait('space', this.#hasSpace(), options?.signal, 'Pool.onSpace() signal');
  }

  /** Resolves when nothing is running or queued; at once if that is so now. */
  onIdle(options?: PoolWaitOptions): Promise<void> {
    checkOptions('Pool.onIdle() options', options, WAIT_OPTIONS);
    return this.#wait('idle', this.#isIdle(), options?.signal, 'Pool.onIdle() signal');
  }

  /** Rejects every queued task with `PoolClearedError`; running tasks carry on. */
  clear(): void {
    this.#rejectQueued(PoolClearedError);
  }

  /**
   * Refuses new tasks, rejects the queued ones with `PoolClosedError`, aborts the running ones (with it as
   * the reason) and waits for them to settle: at most `timeoutMs` (default: the pool's `closeTimeoutMs`),
   * then rejects with `PoolCloseTimeoutError`. Aborting `signal` stops the wait and rejects with its
   * reason. Either way the pool stays closed; calling `close` again waits again.
   */
  close(options?: PoolCloseOptions): Promise<void> {
    checkOptions('Pool.close() options', options, CLOSE_OPTIONS);
    const timeoutMs = checkDuration(
      'Pool.close() timeoutMs',
      options?.timeoutMs === undefined ? this.#closeTimeoutMs : options.timeoutMs,
    );
    const signal = options?.signal;
    checkSignal('Pool.close() signal', signal);
    if (!this.#closed) {
      this.#closed = true;
      this.#rejectQueued(PoolClosedError);
      this.#controller.abort(new PoolClosedError());
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#isIdle()) return Promise.resolve();
    return this.#settle(timeoutMs, signal);
  }

  /** Closes the pool as `close()` does, bounded by the pool's `closeTimeoutMs`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #settle(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    // The idle wait is our own, withdrawn once the deadline or the caller's abort comes first.
    const stop = new AbortController();
    const idle = this.onIdle({ signal: stop.signal });
    idle.catch(noop);
    const settled = await settleWithin(idle, timeoutMs, signal);
    stop.abort();
    if (settled) return;
    if (signal?.aborted) throw signal.reason;
    throw new PoolCloseTimeoutError(this.#running, timeoutMs);
  }

  #hasSpace(): boolean {
    return this.#running < this.#concurrency || this.#queued < this.#maxQueued;
  }

  #isIdle(): boolean {
    return this.#running === 0 && this.#queued === 0;
  }

  /**
   * A worker holds one slot and runs jobs in order until none is left: `first` now, then each queued job
   * it hands the slot to. Its callbacks are made once per worker and reused for every job it runs, so
   * following a task costs one `then` and no fresh closures.
   */
  #startWorker(first: Job | undefined): Promise<unknown> | undefined {
    this.#running++;
    let job: Job | undefined;
    let unwatchPool: (() => void) | undefined;
    const done = (): void => {
      const watch = (job as Job).watch;
      if (watch !== undefined) {
        watch.unwatch?.();
        unwatchPool?.();
        unwatchPool = undefined;
      }
      job = undefined;
      next();
    };
    const onFulfilled = (value: unknown): void => {
      (job as Job).resolve(value);
      done();
    };
    const onRejected = (error: unknown): void => {
      (job as Job).reject(error);
      done();
    };
    const next = (): void => {
      const head = this.#head;
      if (head === undefined || this.#running > this.#concurrency) {
        this.#running--;
        if (this.#idleWaiters.size > 0 && this.#isIdle()) this.#release('idle');
        if (this.#spaceWaiters.size > 0 && this.#hasSpace()) this.#release('space');
        return;
      }
      // Hand the slot over; the job starts from its gate, in its own caller's context (see startHanded).
      this.#unlink(head);
      head.state = HANDED;
      head.execute = execute;
      head.open(head);
    };
    const execute = (current: Job): Promise<unknown> | undefined => {
      if (current.state === DROPPED) {
        // Aborted between being handed the slot and starting: it never runs, and the slot goes on.
        next();
        return undefined;
      }
      if (this.#closed && current.state === HANDED) {
        current.state = DROPPED;
        current.fn = undefined;
        next();
        const error = new PoolClosedError();
        if (current.watch === undefined) return Promise.reject(error);
        current.watch.unwatch?.();
        current.reject(error);
        return undefined;
      }
      current.state = RUNNING;
      job = current;
      const fn = current.fn as Task;
      current.fn = undefined;
      let signal = this.#signal;
      const watch = current.watch;
      if (watch !== undefined) {
        // The caller's signal can abort this one task; the pool's own still reaches it on disposal.
        const controller = new AbortController();
        watch.controller = controller;
        signal = controller.signal;
        const pool = this.#signal;
        if (pool.aborted) controller.abort(pool.reason);
        else unwatchPool = onAbort(pool, () => controller.abort(pool.reason));
      }
      let value: unknown;
      try {
        value = fn(signal);
      } catch (error) {
        // A synchronous throw still settles on a later microtask, like a rejected promise would.
        value = Promise.reject(error);
      }
      const settled = Promise.resolve(value);
      settled.then(onFulfilled, onRejected);
      return settled;
    };
    if (first !== undefined) return execute(first);
    next();
    return undefined;
  }

  #unlink(job: Job): void {
    const { prev, next } = job;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    job.prev = job.next = undefined;
    this.#queued--;
    if (this.#spaceWaiters.size > 0 && this.#hasSpace()) this.#release('space');
  }

  #abort(job: Job, reason: unknown): void {
    if (job.state === QUEUED) {
      this.#unlink(job);
      job.state = DROPPED;
      job.fn = undefined;
      if (this.#idleWaiters.size > 0 && this.#isIdle()) this.#release('idle');
    } else if (job.state === HANDED) {
      // Its worker sees this when the gate opens and hands the slot on instead.
      job.state = DROPPED;
      job.fn = undefined;
    } else job.watch?.controller?.abort(reason);
    job.reject(reason);
  }

  #rejectQueued(ErrorClass: new () => KeelError): void {
    let job = this.#head;
    if (job === undefined) return;
    const error = new ErrorClass();
    while (job !== undefined) {
      const next: Job | undefined = job.next;
      this.#unlink(job);
      job.state = DROPPED;
      job.fn = undefined;
      if (job.watch === undefined) job.fail(error);
      else {
        job.watch.unwatch?.();
        job.reject(error);
      }
      job = next;
    }
    if (this.#idleWaiters.size > 0 && this.#isIdle()) this.#release('idle');
  }

  #wait(
    which: 'idle' | 'space',
    ready: boolean,
    signal: AbortSignal | undefined,
    name: string,
  ): Promise<void> {
    checkSignal(name, signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (ready) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, unwatch: undefined };
      if (signal !== undefined) {
        waiter.unwatch = onAbort(signal, () => {
          // Released lists are replaced, so look up the current one; a released waiter is no longer watched.
          (which === 'idle' ? this.#idleWaiters : this.#spaceWaiters).delete(waiter);
          reject(signal.reason);
        });
      }
      (which === 'idle' ? this.#idleWaiters : this.#spaceWaiters).add(waiter);
    });
  }

  #release(which: 'idle' | 'space'): void {
    const waiters = which === 'idle' ? this.#idleWaiters : this.#spaceWaiters;
    if (which === 'idle') this.#idleWaiters = new Set();
    else this.#spaceWaiters = new Set();
    for (const waiter of waiters) {
      waiter.unwatch?.();
      waiter.resolve();
    }
  }
}
