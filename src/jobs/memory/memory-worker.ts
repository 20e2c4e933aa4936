/** A worker of the embedded queue: runs up to `concurrency` handlers at once and closes within a deadline. */

import { settleWithin } from '../../abort.ts';
import { describe } from '../../errors.ts';
import { ABORT_GRACE_MS } from '../deadline.ts';
import { Emitter, type Listener, type Unsubscribe } from '../emitter.ts';
import { JobAbortedError } from '../errors.ts';
import { checkResult, normalizeClose } from '../options.ts';
import type { CloseOptions, Job, JobEvents, JobHandler, JobProgress, JobWorker } from '../types.ts';
import { info, type JobRecord } from './job-record.ts';

type Outcome = { ok: true; result: unknown } | { ok: false; error: unknown };

/** What the worker needs from its queue. */
export interface QueueSide {
  /** Records a finished attempt; returns whether the job will be tried again. */
  finish(job: JobRecord, outcome: Outcome): boolean;
  /** Returns a job the worker gave up on at its close deadline, without using an attempt. */
  release(job: JobRecord): void;
  detach(worker: MemoryWorker): void;
}

interface Run {
  readonly controller: AbortController;
  readonly settled: Promise<void>;
  /** Set when the worker gave the job back: whatever the handler does later is ignored. */
  released: boolean;
}

export class MemoryWorker implements JobWorker {
  readonly #queue: string;
  readonly #handler: JobHandler;
  readonly #concurrency: number;
  readonly #events: Emitter<JobEvents>;
  readonly #queueEvents: Emitter<JobEvents>;
  readonly #side: QueueSide;
  readonly #runs = new Map<JobRecord, Run>();
  #closing: Promise<void> | undefined;

  constructor(
    queue: string,
    handler: JobHandler,
    concurrency: number,
    queueEvents: Emitter<JobEvents>,
    side: QueueSide,
  ) {
    this.#queue = queue;
    this.#events = new Emitter(`worker of queue ${describe(queue)}`);
    this.#handler = handler;
    this.#concurrency = concurrency;
    this.#queueEvents = queueEvents;
    this.#side = side;
  }

  /** Whether the worker takes another job now. */
  get free(): boolean {
    return this.#closing === undefined && this.#runs.size < this.#concurrency;
  }

  on<E extends keyof JobEvents>(event: E, listener: Listener<JobEvents[E]>): Unsubscribe {
    return this.#events.on(event, listener);
  }

  #emit<E extends keyof JobEvents>(event: E, payload: JobEvents[E]): void {
    const mine = this.#events.has(event);
    const queue = this.#queueEvents.has(event);
    if (mine) this.#events.emit(event, payload);
    if (queue) this.#queueEvents.emit(event, payload);
    // An error nobody listens to, here or on the queue, still surfaces (through the last-resort sink).
    if (!mine && !queue && event === 'error') this.#events.emit(event, payload);
  }

  run(record: JobRecord): void {
    const controller = new AbortController();
    const run: Run = { controller, settled: Promise.resolve(), released: false };
    // Registered before the handler starts: a handler may report progress, or throw, synchronously.
    this.#runs.set(record, run);
    const job: Job = {
      id: record.id,
      name: record.name,
      data: record.data,
      attempt: record.attempt,
      attempts: record.options.attempts,
      progress: async (value: JobProgress) => {
        if (run.released || !this.#runs.has(record)) return;
        this.#emit('progress', { job: info(record), progress: value });
      },
    };
    (run as { settled: Promise<void> }).settled = (async () => {
      let outcome: Outcome;
      try {
        const result = await this.#handler(job, { signal: controller.signal });
        checkResult(record.name, result);
        outcome = { ok: true, result };
      } catch (error) {
        outcome = { ok: false, error };
      }
      if (run.released) return;
      this.#runs.delete(record);
      if (!outcome.ok && controller.signal.aborted && this.#closing !== undefined) {
        // The handler gave up because we asked it to at the deadline: the job is not its fault.
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
          this.#side.release(record);
        }
        this.#runs.clear();
      }
      this.#side.detach(this);
      this.#events.clear();
    })();
    await this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
