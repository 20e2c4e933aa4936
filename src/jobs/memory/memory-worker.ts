/** A worker of the embedded queue: runs up to `concurrency` handlers at once and closes within a deadline. */

import { settleWithin } from '../../abort.ts';
import { describe } from '../../errors.ts';
import type { EngineWorker, WorkerHooks } from '../base-queue.ts';
import { ABORT_GRACE_MS } from '../deadline.ts';
import { checkJobEvent, Emitter, type Listener, type Unsubscribe } from '../emitter.ts';
import { JobAbortedError, JobCancelledError } from '../errors.ts';
import { checkResult, normalizeClose } from '../options.ts';
import type { CloseOptions, Job, JobEvents, JobHandler, JobProgress } from '../types.ts';
import { info, type JobRecord } from './job-record.ts';

export type Outcome = { ok: true; result: unknown } | { ok: false; error: unknown };

/** What the worker needs from its queue. */
export interface QueueSide {
  /** Records a finished attempt; returns whether the job will be tried again (never when cancelled). */
  finish(job: JobRecord, outcome: Outcome): boolean;
  /** Returns a job the worker gave up on at its close deadline, without using an attempt. */
  release(job: JobRecord): void;
  /** The worker may take jobs again. */
  pump(): void;
  detach(worker: MemoryWorker): void;
}

interface Run {
  readonly controller: AbortController;
  readonly settled: Promise<void>;
  /** Set when the worker gave the job back: whatever the handler does later is ignored. */
  released: boolean;
  /** Stops waiting for the handler (after a cancel's grace). */
  readonly giveUp: () => void;
  grace?: ReturnType<typeof setTimeout>;
}

export class MemoryWorker implements EngineWorker {
  readonly #queue: string;
  readonly #handler: JobHandler;
  readonly #concurrency: number;
  readonly #events: Emitter<JobEvents>;
  readonly #hooks: WorkerHooks;
  readonly #side: QueueSide;
  readonly #runs = new Map<JobRecord, Run>();
  #paused = false;
  #closing: Promise<void> | undefined;

  constructor(queue: string, handler: JobHandler, concurrency: number, hooks: WorkerHooks, side: QueueSide) {
    this.#queue = queue;
    this.#events = new Emitter(`worker of queue ${describe(queue)}`);
    this.#handler = handler;
    this.#concurrency = concurrency;
    this.#hooks = hooks;
    this.#side = side;
  }

  /** Whether the worker takes another job now. */
  get free(): boolean {
    return this.#closing === undefined && !this.#paused && this.#runs.size < this.#concurrency;
  }

  on<E extends keyof JobEvents>(event: E, listener: Listener<JobEvents[E]>): Unsubscribe {
    checkJobEvent('JobWorker.on()', event);
    return this.#events.on(event, listener);
  }

  async pause(): Promise<void> {
    this.#paused = true;
  }

  async resume(): Promise<void> {
    this.#paused = false;
    this.#side.pump();
  }

  /** Aborts the handler of `record` when this worker runs it; returns whether it did. */
  cancel(record: JobRecord): boolean {
    const run = this.#runs.get(record);
    if (run === undefined || run.released || record.cancelled) return false;
    record.cancelled = true;
    run.controller.abort(new JobCancelledError(this.#queue, record.id));
    // A handler that ignores its signal is not waited for past the grace: the job fails as cancelled.
    run.grace = setTimeout(run.giveUp, ABORT_GRACE_MS);
    return true;
  }

  #emit<E extends 'completed' | 'failed' | 'progress'>(event: E, payload: JobEvents[E]): void {
    if (this.#events.has(event)) this.#events.emit(event, payload);
    this.#hooks.emit(event, payload);
  }

  run(record: JobRecord): void {
    const controller = new AbortController();
    const { promise: givenUp, resolve: giveUp } = Promise.withResolvers<void>();
    const run: Run = { controller, settled: Promise.resolve(), released: false, giveUp: () => giveUp() };
    // Registered before the handler starts: a handler may report progress, or throw, synchronously.
    this.#runs.set(record, run);
    record.started = record.attempt;
    this.#hooks.started(record.id);
    const job: Job = {
      id: record.id,
      name: record.name,
      data: record.data,
      attempt: record.attempt,
      attempts: record.options.attempts,
      progress: async (value: JobProgress) => {
        if (run.released || !this.#runs.has(record)) return;
        record.progress = JSON.parse(JSON.stringify(value));
        this.#emit('progress', { job: info(record), progress: value });
      },
    };
    (run as { settled: Promise<void> }).settled = (async () => {
      let outcome: Outcome;
      try {
        // Called at once (a handler may report progress, or throw, synchronously); the race handles its
        // rejection even after a cancel stopped waiting for it.
        const result = await Promise.race([this.#handler(job, { signal: controller.signal }), givenUp]);
        checkResult(record.name, result);
        outcome = { ok: true, result };
      } catch (error) {
        outcome = { ok: false, error };
      }
      clearTimeout(run.grace);
      if (run.released) return;
      this.#runs.delete(record);
      // A cancelled job fails as cancelled, whatever its handler made of the aborted signal.
      if (record.cancelled) outcome = { ok: false, error: controller.signal.reason };
      else if (!outcome.ok && controller.signal.aborted && this.#closing !== undefined) {
        // The handler gave up because we asked it to at the deadline: the job is not its fault.
        this.#hooks.left(record.id);
        this.#side.release(record);
        return;
      }
      const before = info(record);
      const willRetry = this.#side.finish(record, outcome);
      if (outcome.ok) this.#emit('completed', { job: before, result: outcome.result });
      else this.#emit('failed', { job: before, error: outcome.error, willRetry });
    })();
  }

  async close(options?: CloseOptions): Promise<void> {
    const { timeoutMs, signal } = normalizeClose(options, 'JobWorker.close()');
    this.#closing ??= (async () => {
      const all = () => Promise.all([...this.#runs.values()].map((r) => r.settled));
      if (!(await settleWithin(all(), timeoutMs, signal))) {
        for (const [record, run] of this.#runs) {
          run.controller.abort(new JobAbortedError(this.#queue, record.id));
        }
        await settleWithin(all(), ABORT_GRACE_MS);
        for (const [record, run] of this.#runs) {
          run.released = true;
          this.#hooks.left(record.id);
          this.#side.release(record);
        }
        this.#runs.clear();
      }
      this.#side.detach(this);
      this.#hooks.closed(this);
      this.#events.clear();
    })();
    await this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
