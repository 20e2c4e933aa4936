/** The embedded job queue: every job lives in this process, so it runs with no server and dies with it. */
import { clearLongTimeout, type LongTimer, setLongTimeout } from '../../abort.ts';
import { describe, InvalidArgumentError } from '../../errors.ts';
import {
  BaseQueue,
  type EngineJob,
  type EngineWorker,
  type Removal,
  type WorkerHooks,
} from '../base-queue.ts';
import { failureOf } from '../errors.ts';
import { backoffDelay, checkQueueName, normalizeOpen } from '../options.ts';
import type { NormalizedRhythm } from '../schedules.ts';
import type {
  JobCounts,
  JobDetails,
  JobHandler,
  JobState,
  OpenQueueOptions,
  ScheduleInfo,
} from '../types.ts';
import { Fifo } from './fifo.ts';
import { details, type JobRecord } from './job-record.ts';
import { MemoryScheduler } from './memory-scheduler.ts';
import { MemoryWorker, type Outcome } from './memory-worker.ts';
import { MinHeap } from './min-heap.ts';

export class MemoryQueue<In = unknown, Out = In> extends BaseQueue<In, Out> {
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
  /** Removed jobs whose records still sit in the waiting lines or the delayed heap. */
  #staleWaiting = 0;
  #staleDelayed = 0;
  #seq = 0;
  #timer: LongTimer | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #pumping = false;
  #pumpAgain = false;
  #paused = false;
  /** The rate limit's window: when it opened and how many jobs started in it. */
  #windowStart = 0;
  #windowCount = 0;
  #windowTimer: LongTimer | undefined;

  readonly #scheduler = new MemoryScheduler({
    add: (job) => this.addJobs([job]),
    closed: () => this.closed,
    error: (error) => this.emitError(error),
  });

  constructor(name: string, options: OpenQueueOptions = {}) {
    super(checkQueueName(name), normalizeOpen(options));
  }

  protected async upsertSchedule(id: string, rhythm: NormalizedRhythm, job: EngineJob): Promise<void> {
    await this.#scheduler.upsert(id, rhythm, job);
  }

  protected async removeSchedule(id: string): Promise<boolean> {
    return this.#scheduler.remove(id);
  }

  protected async listSchedules(): Promise<ScheduleInfo[]> {
    return this.#scheduler.list();
  }

  protected async addJobs(jobs: readonly EngineJob[]): Promise<string[]> {
    const ids = jobs.map((job) => this.#addOne(job));
    this.#pump();
    return ids;
  }

  #addOne({ name, json, options }: EngineJob): string {
    if (options.jobId !== undefined && this.#jobs.has(options.jobId)) return options.jobId;
    const seq = ++this.#seq;
    const job: JobRecord = {
      id: options.jobId ?? String(seq),
      name,
      // A copy, as a handler on Redis would see it: no shared references, Dates as strings.
      data: JSON.parse(json),
      options,
      seq,
      createdAt: Date.now(),
      attempt: 1,
      started: 0,
      state: 'waiting',
      runAt: 0,
      progress: 0,
      cancelled: false,
    };
    // A generated id may collide with nothing: custom ids are never integers.
    this.#jobs.set(job.id, job);
    if (options.delay > 0) this.#schedule(job, Date.now() + options.delay);
    else this.#enqueue(job);
    return job.id;
  }

  protected async startWorker(
    handler: JobHandler,
    concurrency: number,
    hooks: WorkerHooks,
  ): Promise<EngineWorker> {
    const worker = new MemoryWorker(this.name, handler, concurrency, hooks, {
      finish: (job, outcome) => this.#finish(job, outcome),
      release: (job) => this.#release(job),
      pump: () => this.#pump(),
      detach: (w) => {
        this.#workers.delete(w);
      },
    });
    this.#workers.add(worker);
    this.#pump();
    return worker;
  }

  protected async countJobs(): Promise<JobCounts> {
    return {
      waiting: this.#plain.length + this.#prioritized.size - this.#staleWaiting,
      delayed: this.#delayed.size - this.#staleDelayed,
      active: this.#active,
      completed: this.#completed.size,
      failed: this.#failed.size,
    };
  }

  protected async findJob(id: string): Promise<JobDetails | undefined> {
    const job = this.#jobs.get(id);
    return job === undefined ? undefined : details(job, this.#paused);
  }

  protected async listJobs(state: JobState, offset: number, limit: number): Promise<JobDetails[]> {
    const out: JobDetails[] = [];
    let skip = offset;
    const wanted = state === 'paused' ? 'waiting' : state;
    if (state === 'paused' && !this.#paused) return out;
    if (state === 'waiting' && this.#paused) return out;
    for (const job of this.#jobs.values()) {
      if (job.state !== wanted) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push(details(job, this.#paused));
      if (out.length === limit) break;
    }
    return out;
  }

  protected async removeJob(id: string): Promise<Removal> {
    const job = this.#jobs.get(id);
    if (job === undefined) return 'missing';
    if (job.state === 'active') return 'active';
    this.#jobs.delete(id);
    if (job.state === 'waiting') this.#staleWaiting++;
    if (job.state === 'delayed') this.#staleDelayed++;
    // Lines and heaps skip records no longer in the map when they come up.
    this.#completed.delete(id);
    this.#failed.delete(id);
    return 'removed';
  }

  protected async cancelActive(id: string): Promise<boolean> {
    const job = this.#jobs.get(id);
    if (job === undefined || job.state !== 'active') return false;
    for (const worker of this.#workers) if (worker.cancel(job)) return true;
    return false;
  }

  protected async setPaused(paused: boolean): Promise<void> {
    this.#paused = paused;
    if (!paused) this.#pump();
  }

  protected async retryJob(id: string): Promise<boolean> {
    const job = this.#jobs.get(id);
    if (job === undefined || job.state !== 'failed') return false;
    this.#failed.delete(id);
    job.attempt = 1;
    job.cancelled = false;
    delete job.failure;
    delete job.finishedAt;
    this.#enqueue(job);
    this.#pump();
    return true;
  }

  protected async failedIds(limit: number): Promise<string[]> {
    return [...this.#failed].slice(0, limit);
  }

  protected async watch(_signal: AbortSignal): Promise<void> {
    // Every worker of an embedded queue is this object's own: their events reach it directly.
  }

  protected async shutdown(): Promise<void> {
    this.#scheduler.clear();
    clearLongTimeout(this.#timer);
    clearLongTimeout(this.#windowTimer);
    this.#timer = undefined;
    this.#windowTimer = undefined;
    this.#jobs.clear();
    this.#plain.clear();
    this.#prioritized.clear();
    this.#delayed.clear();
    this.#staleWaiting = 0;
    this.#staleDelayed = 0;
  }

  #enqueue(job: JobRecord): void {
    job.state = 'waiting';
    if (job.options.priority === undefined) this.#plain.push(job);
    else this.#prioritized.push(job);
  }

  /** Puts a job its worker gave up at a close deadline back at the head of its line; no attempt is used. */
  #release(job: JobRecord): void {
    this.#active--;
    if (this.closed) return;
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
      const job = this.#delayed.pop() as JobRecord;
      if (this.#jobs.get(job.id) === job) this.#enqueue(job);
      else this.#staleDelayed--;
    }
    this.#arm();
    this.#pump();
  }

  #next(): JobRecord | undefined {
    for (;;) {
      const job = this.#plain.shift() ?? this.#prioritized.pop();
      // A removed job leaves its record in line; it is dropped when it comes up.
      if (job === undefined || this.#jobs.get(job.id) === job) return job;
      this.#staleWaiting--;
    }
  }

  /** Whether the rate limit lets another job start now; when not, arms a timer for the next window. */
  #mayStart(): boolean {
    const limit = this.options.limit;
    if (limit === undefined) return true;
    const now = Date.now();
    if (now - this.#windowStart >= limit.durationMs) {
      this.#windowStart = now;
      this.#windowCount = 0;
    }
    if (this.#windowCount < limit.max) return true;
    if (this.#windowTimer === undefined) {
      this.#windowTimer = setLongTimeout(
        () => {
          this.#windowTimer = undefined;
          this.#pump();
        },
        this.#windowStart + limit.durationMs - now,
      );
    }
    return false;
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
        while (progressed && !this.closed && !this.#paused) {
          progressed = false;
          for (const worker of this.#workers) {
            if (!worker.free) continue;
            if (!this.#mayStart()) return;
            const job = this.#next();
            if (job === undefined) return;
            this.#windowCount++;
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

  #finish(job: JobRecord, outcome: Outcome): boolean {
    this.#active--;
    let willRetry = false;
    if (this.#jobs.get(job.id) !== job) {
      // Closed (or cleared) meanwhile: nothing to record.
    } else if (outcome.ok) {
      job.state = 'completed';
      job.result = outcome.result;
      job.finishedAt = Date.now();
      this.#keep(this.#completed, job.id, this.options.keepCompleted);
    } else if (job.attempt < job.options.attempts && !this.closed && !job.cancelled) {
      willRetry = true;
    } else {
      job.state = 'failed';
      job.failure = failureOf(outcome.error);
      job.finishedAt = Date.now();
      this.#keep(this.#failed, job.id, this.options.keepFailed);
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
export function openMemoryQueue(url: URL, name: string, options?: OpenQueueOptions): MemoryQueue {
  // Each open is its own queue, named by `name` alone: anything in the URL would be ignored, so it is refused.
  if (
    url.host !== '' ||
    (url.pathname !== '' && url.pathname !== '/') ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw new InvalidArgumentError(
      `openQueue() url: a memory:// queue takes no host, path, query or fragment; received ${describe(url.href)}` +
        "; use openQueue('memory://', name)",
    );
  }
  const queue = new MemoryQueue(name, options);
  options?.signal?.throwIfAborted();
  return queue;
}
