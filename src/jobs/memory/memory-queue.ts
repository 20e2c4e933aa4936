/** The embedded job queue: every job lives in this process, so it runs with no server and dies with it. */
import { clearLongTimeout, type LongTimer, setLongTimeout } from '../../abort.ts';
import { describe } from '../../errors.ts';
import type { StandardSchemaV1 } from '../../standard-schema.ts';
import { Emitter, type Listener, type Unsubscribe } from '../emitter.ts';
import { QueueClosedError } from '../errors.ts';
import {
  backoffDelay,
  checkJobName,
  checkQueueName,
  type NormalizedOpen,
  normalizeAdd,
  normalizeClose,
  normalizeCounts,
  normalizeOpen,
  normalizeProcess,
  serializeData,
  validateData,
} from '../options.ts';
import type {
  AddOptions,
  CloseOptions,
  CountsOptions,
  JobCounts,
  JobEvents,
  JobHandler,
  JobQueue,
  JobWorker,
  OpenQueueOptions,
  ProcessOptions,
  Rhythm,
  ScheduleInfo,
  ScheduleOptions,
} from '../types.ts';
import { Fifo } from './fifo.ts';
import type { JobRecord } from './job-record.ts';
import { MemoryScheduler } from './memory-scheduler.ts';
import { MemoryWorker } from './memory-worker.ts';
import { MinHeap } from './min-heap.ts';

export class MemoryQueue<In = unknown, Out = In> implements JobQueue<In, Out> {
  readonly name: string;
  readonly #options: NormalizedOpen;
  readonly #schema: StandardSchemaV1 | undefined;
  readonly #events: Emitter<JobEvents>;
  readonly #jobs = new Map<string, JobRecord>();
  /** Jobs without a priority, in arrival order (they run before every prioritized job, as in BullMQ). */
  readonly #plain = new Fifo<JobRecord>();
  readonly #prioritized = new MinHeap<JobRecord>(
    (a, b) =>
      (a.options.priority as number) < (b.options.priority as number) ||
      (a.options.priority === b.options.priority && a.seq < b.seq),
  );
  readonly #delayed = new MinHeap<JobRecord>(
    (a, b) => a.runAt < b.runAt || (a.runAt === b.runAt && a.seq < b.seq),
  );
  /** Finished jobs in the order they finished, so the oldest beyond the `keep*` limits go first. */
  readonly #completed = new Set<string>();
  readonly #failed = new Set<string>();
  readonly #workers = new Set<MemoryWorker>();
  #active = 0;
  #seq = 0;
  #timer: LongTimer | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #closed = false;
  #closing: Promise<void> | undefined;
  #pumping = false;
  #pumpAgain = false;
  readonly #scheduler: MemoryScheduler;

  constructor(name: string, options: OpenQueueOptions = {}) {
    this.name = checkQueueName(name);
    this.#options = normalizeOpen(options);
    this.#events = new Emitter(`queue ${describe(name)}`);
    this.#schema = this.#options.schema;
    this.#scheduler = new MemoryScheduler({
      queue: this.name,
      check: async (job, data) => {
        serializeData(job, await validateData(this.#schema, this.name, job, data));
      },
      add: (job, data, opts) => this.add(job, data as In, opts),
      error: (error) => this.#events.emit('error', { error }),
    });
  }

  schedule(id: string, rhythm: Rhythm, name: string, data: In, options?: ScheduleOptions): Promise<void> {
    return this.#scheduler.schedule(id, rhythm, name, data, options);
  }

  async unschedule(id: string): Promise<boolean> {
    return this.#scheduler.unschedule(id);
  }

  async schedules(): Promise<ScheduleInfo[]> {
    return this.#scheduler.list();
  }

  async add(name: string, data: In, options?: AddOptions): Promise<string> {
    checkJobName(name);
    const opts = normalizeAdd(options);
    if (this.#closed) throw new QueueClosedError(this.name, 'add a job');
    options?.signal?.throwIfAborted();
    // A copy, as a handler on Redis would see it: no shared references, Dates as strings.
    const value = JSON.parse(serializeData(name, await validateData(this.#schema, this.name, name, data)));
    options?.signal?.throwIfAborted();
    if (this.#closed) throw new QueueClosedError(this.name, 'add a job');
    if (opts.jobId !== undefined && this.#jobs.has(opts.jobId)) return opts.jobId;
    const seq = ++this.#seq;
    const job: JobRecord = {
      id: opts.jobId ?? String(seq),
      name,
      data: value,
      options: opts,
      seq,
      attempt: 1,
      state: 'waiting',
      runAt: 0,
    };
    // A generated id may collide with nothing: custom ids are never integers.
    this.#jobs.set(job.id, job);
    if (opts.delay > 0) this.#schedule(job, Date.now() + opts.delay);
    else this.#enqueue(job);
    this.#pump();
    return job.id;
  }

  async process<R>(handler: JobHandler<Out, R>, options?: ProcessOptions): Promise<JobWorker> {
    const { concurrency, signal } = normalizeProcess(handler, options);
    if (this.#closed) throw new QueueClosedError(this.name, 'start a worker');
    signal?.throwIfAborted();
    const worker = new MemoryWorker(this.name, handler as JobHandler, concurrency, this.#events, {
      finish: (job, outcome) => this.#finish(job, outcome),
      release: (job) => this.#release(job),
      detach: (w) => {
        this.#workers.delete(w);
      },
    });
    this.#workers.add(worker);
    this.#pump();
    return worker;
  }

  on<E extends keyof JobEvents>(event: E, listener: Listener<JobEvents[E]>): Unsubscribe {
    return this.#events.on(event, listener);
  }

  async counts(options?: CountsOptions): Promise<JobCounts> {
    normalizeCounts(options).signal?.throwIfAborted();
    return {
      waiting: this.#plain.length + this.#prioritized.size,
      delayed: this.#delayed.size,
      active: this.#active,
      completed: this.#completed.size,
      failed: this.#failed.size,
    };
  }

  async close(options?: CloseOptions): Promise<void> {
    const { timeoutMs, signal } = normalizeClose(options);
    this.#closed = true;
    this.#scheduler.close();
    this.#closing ??= (async () => {
      await Promise.all([...this.#workers].map((w) => w.close({ timeoutMs, ...(signal && { signal }) })));
      clearLongTimeout(this.#timer);
      this.#timer = undefined;
      this.#jobs.clear();
      this.#plain.clear();
      this.#prioritized.clear();
      this.#delayed.clear();
      this.#events.clear();
    })();
    await this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #enqueue(job: JobRecord): void {
    job.state = 'waiting';
    if (job.options.priority === undefined) this.#plain.push(job);
    else this.#prioritized.push(job);
  }

  /** Puts a job its worker gave up at a close deadline back at the head of its line; no attempt is used. */
  #release(job: JobRecord): void {
    this.#active--;
    if (this.#closed) return;
    job.state = 'waiting';
    if (job.options.priority === undefined) this.#plain.unshift(job);
    else this.#prioritized.push(job);
    this.#pump();
  }

  #schedule(job: JobRecord, runAt: number): void {
    job.state = 'delayed';
    job.runAt = runAt;
    this.#delayed.push(job);
    this.#arm();
  }

  /** Keeps one timer, set for the earliest delayed job. */
  #arm(): void {
    const next = this.#delayed.peek();
    const at = next === undefined ? Number.POSITIVE_INFINITY : next.runAt;
    if (at === this.#timerAt) return;
    clearLongTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (next === undefined) return;
    // A long timer: a delay past 2^31-1 ms would make a platform timer fire after 1 ms, again and again.
    this.#timer = setLongTimeout(() => this.#promote(), Math.max(0, at - Date.now()));
  }

  #promote(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    while ((this.#delayed.peek()?.runAt ?? Number.POSITIVE_INFINITY) <= now) {
      this.#enqueue(this.#delayed.pop() as JobRecord);
    }
    this.#arm();
    this.#pump();
  }

  #next(): JobRecord | undefined {
    return this.#plain.shift() ?? this.#prioritized.pop();
  }

  /** Hands ready jobs to workers with free slots, round-robin, until either runs out. */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        let progressed = true;
        while (progressed && !this.#closed) {
          progressed = false;
          for (const worker of this.#workers) {
            if (!worker.free) continue;
            const job = this.#next();
            if (job === undefined) return;
            job.state = 'active';
            this.#active++;
            worker.run(job);
            progressed = true;
          }
        }
      } while (this.#pumpAgain);
    } finally {
      this.#pumping = false;
    }
  }

  #finish(job: JobRecord, outcome: { ok: true; result: unknown } | { ok: false; error: unknown }): boolean {
    this.#active--;
    let willRetry = false;
    if (outcome.ok) {
      job.state = 'completed';
      this.#keep(this.#completed, job.id, this.#options.keepCompleted);
    } else if (job.attempt < job.options.attempts && !this.#closed) {
      willRetry = true;
    } else {
      job.state = 'failed';
      this.#keep(this.#failed, job.id, this.#options.keepFailed);
    }
    if (willRetry) {
      job.attempt++;
      const wait = backoffDelay(job.options.backoff, job.attempt - 1);
      if (wait > 0) this.#schedule(job, Date.now() + wait);
      else this.#enqueue(job);
    }
    // Handing out the next job waits a microtask, so the worker reports this outcome before the next starts.
    queueMicrotask(() => this.#pump());
    return willRetry;
  }

  #keep(set: Set<string>, id: string, limit: number): void {
    set.add(id);
    while (set.size > limit) {
      const oldest = set.values().next().value as string;
      set.delete(oldest);
      this.#jobs.delete(oldest);
    }
  }
}

/** Opens an embedded queue; `memory://` URLs carry nothing else, and each call makes an independent queue. */
export function openMemoryQueue(_url: URL, name: string, options?: OpenQueueOptions): MemoryQueue {
  const queue = new MemoryQueue(name, options);
  options?.signal?.throwIfAborted();
  return queue;
}
