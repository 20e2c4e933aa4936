/** The durable job queue on Redis through BullMQ: jobs outlive processes, and workers anywhere compete. */

import { type Job as BullJob, type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  clearLongTimeout,
  type LongTimer,
  setLongTimeout,
  settleWithin,
  unrefLongTimeout,
} from '../../abort.ts';
import { describe } from '../../errors.ts';
import {
  BaseQueue,
  type EngineJob,
  type EngineWorker,
  type Removal,
  type WorkerHooks,
} from '../base-queue.ts';
import { JobFailedError, type JobFailure, QueueConnectionError } from '../errors.ts';
import { checkQueueName, type NormalizedAdd, type NormalizedOpen, normalizeOpen } from '../options.ts';
import { type RedisTarget, withTls } from '../redis-url.ts';
import type { NormalizedRhythm } from '../schedules.ts';
import type {
  JobCounts,
  JobDetails,
  JobHandler,
  JobInfo,
  JobProgress,
  JobQueue,
  JobState,
  OpenQueueOptions,
  ScheduleInfo,
} from '../types.ts';
import { BullmqScheduler } from './bullmq-scheduler.ts';
import { BullmqWorker, CODE_FIELD, cancelChannel, RETRY_EVENT, runKey } from './bullmq-worker.ts';
import { EventReader, field } from './event-reader.ts';
import { connect, RELEASE_MS, releaseClient } from './redis-connection.ts';

/**
 * Waits for a command up to `timeoutMs`: rejects with the signal's reason when it aborts first, or with a
 * retryable QueueConnectionError when Redis does not answer in time (down, or frozen with the connection
 * open). Either way the command may still reach Redis later; the caller only stops waiting.
 */
async function bounded<T>(
  start: () => Promise<T>,
  what: string,
  where: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  status: () => string,
): Promise<T> {
  signal?.throwIfAborted();
  const work = start();
  if (!(await settleWithin(work, timeoutMs, signal))) {
    signal?.throwIfAborted();
    throw new QueueConnectionError(
      `Redis at ${where} did not answer ${what} within ${timeoutMs} ms (connection ${status()}); ` +
        'it may still be carried out once Redis answers',
    );
  }
  return work;
}

export class BullmqQueue<In = unknown, Out = In> extends BaseQueue<In, Out> {
  readonly #target: RedisTarget;
  readonly #client: Redis;
  readonly #queue: Queue;
  readonly #scheduler: BullmqScheduler;
  /** The stream of events from every process, opened for the first listener (or `result()` wait). */
  #reader: EventReader | undefined;

  /** Use `openBullmqQueue`, which connects and checks the server first. */
  constructor(target: RedisTarget, name: string, options: NormalizedOpen, client: Redis) {
    super(name, options);
    this.#target = target;
    this.#client = client;
    this.#queue = new Queue(name, {
      connection: client,
      prefix: options.prefix,
      defaultJobOptions: {
        removeOnComplete: { count: options.keepCompleted },
        removeOnFail: { count: options.keepFailed },
      },
    });
    this.#queue.on('error', (error) => this.emitError(error));
    client.defineCommand(JOB_FIELDS, { lua: JOB_FIELDS_LUA });
    this.#scheduler = new BullmqScheduler({
      queue: this.#queue,
      jobOptions: (job) => jobOptions(job.options),
      bounded: (start, what, signal) => this.#bounded(start, what, this.options.commandTimeoutMs, signal),
    });
  }

  protected upsertSchedule(id: string, rhythm: NormalizedRhythm, job: EngineJob, signal?: AbortSignal) {
    return this.#scheduler.upsert(id, rhythm, job, signal);
  }

  protected removeSchedule(id: string): Promise<boolean> {
    return this.#scheduler.remove(id);
  }

  protected listSchedules(): Promise<ScheduleInfo[]> {
    return this.#scheduler.list();
  }

  protected override get resultPollMs(): number {
    return 1000;
  }

  protected async addJobs(jobs: readonly EngineJob[], signal: AbortSignal | undefined): Promise<string[]> {
    if (jobs.length === 1) {
      const [{ name, data, options }] = jobs as [EngineJob];
      const job = await this.#bounded(
        () => this.#queue.add(name, data ?? null, jobOptions(options)),
        `add of job ${describe(name)}`,
        this.options.commandTimeoutMs,
        signal,
      );
      return [job.id as string];
    }
    // One MULTI: every job is added, or none. Jobs that share checked options share BullMQ's form of
    // them (BullMQ copies a job's options before it uses them).
    const converted = new Map<NormalizedAdd, JobsOptions>();
    const entries = jobs.map(({ name, data, options }) => {
      let opts = converted.get(options);
      if (opts === undefined) {
        opts = jobOptions(options);
        converted.set(options, opts);
      }
      return { name, data: data ?? null, opts };
    });
    const added = await this.#bounded(
      () => this.#queue.addBulk(entries),
      `addBulk of ${jobs.length} jobs`,
      this.options.commandTimeoutMs,
      signal,
    );
    return added.map((job) => job.id as string);
  }

  protected async startWorker(
    handler: JobHandler,
    concurrency: number,
    hooks: WorkerHooks,
    signal: AbortSignal | undefined,
  ): Promise<EngineWorker> {
    // Its own connections, so a burst of adds never delays a worker's lock renewals (and vice versa); the
    // second hears cancellations.
    const client = await connect(this.#target, this.options.connectTimeoutMs, signal);
    let listener: Redis;
    try {
      listener = await connect(this.#target, this.options.connectTimeoutMs, signal);
    } catch (error) {
      await releaseClient(client);
      throw error;
    }
    const worker = new BullmqWorker(handler, {
      queue: this.name,
      client,
      listener,
      options: this.options,
      concurrency,
      hooks,
    });
    await worker.start(signal);
    return worker;
  }

  protected async countJobs(
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<JobCounts> {
    const c = await this.#bounded(
      () => this.#queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'),
      'counts',
      timeoutMs ?? this.options.commandTimeoutMs,
      signal,
    );
    return {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      delayed: c.delayed ?? 0,
      active: c.active ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  protected async findJob(id: string, what = 'getJob'): Promise<JobDetails | undefined> {
    // The state first, then the job: a job read first could finish between the two reads and show as
    // completed without its result. A state read first is at worst behind the job (active, not completed).
    const [state, paused] = await this.#command(
      () => Promise.all([this.#queue.getJobState(id), this.#queue.isPaused()]),
      what,
    );
    const mapped = stateOf(state, paused);
    if (mapped === undefined) return undefined;
    const [job, code] = await this.#command(
      () =>
        Promise.all([
          this.#queue.getJob(id) as Promise<BullJob | undefined>,
          this.#client.hget(this.#key(id), CODE_FIELD),
        ]),
      what,
    );
    return job ? detailsOf(job, mapped, code) : undefined;
  }

  protected async listJobs(state: JobState, offset: number, limit: number): Promise<JobDetails[]> {
    const paused = await this.#command(() => this.#queue.isPaused(), 'jobs');
    if ((state === 'paused') !== paused && (state === 'paused' || state === 'waiting')) return [];
    const types: ('waiting' | 'prioritized' | 'delayed' | 'active' | 'completed' | 'failed')[] =
      state === 'waiting' || state === 'paused' ? ['waiting', 'prioritized'] : [state];
    const found = (await this.#command(
      () => this.#queue.getJobs(types, offset, offset + limit - 1, true),
      'jobs',
    )) as BullJob[];
    const seen = new Set<string>();
    const jobs = found.filter((job) => job && !seen.has(job.id as string) && seen.add(job.id as string));
    const codes =
      state === 'failed'
        ? await this.#command(
            () => Promise.all(jobs.map((job) => this.#client.hget(this.#key(job.id as string), CODE_FIELD))),
            'jobs',
          )
        : [];
    return jobs.slice(0, limit).map((job, i) => detailsOf(job, state, codes[i] ?? null));
  }

  protected async removeJob(id: string, what = 'remove'): Promise<Removal> {
    const state = await this.#command(() => this.#queue.getJobState(id), what);
    if (state === 'unknown') return 'missing';
    if (state === 'active') return 'active';
    const removed = await this.#command(() => this.#queue.remove(id), what);
    // 0: the job is locked, so a worker took it meanwhile (or it went already).
    if (removed === 1) return 'removed';
    return (await this.#command(() => this.#queue.getJobState(id), what)) === 'unknown'
      ? 'missing'
      : 'active';
  }

  protected async cancelActive(id: string): Promise<boolean> {
    // The cancel names the run now active, so no later run under the same id is caught by it.
    const job = await this.#command(() => this.#queue.getJob(id) as Promise<BullJob | undefined>, 'cancel');
    if (!job?.processedOn) return false;
    // Every worker of the queue, in every process, listens on this channel; the one running the job aborts it.
    const heard = await this.#command(
      () => this.#client.publish(cancelChannel(this.options.prefix, this.name), runKey(job)),
      'cancel',
    );
    return heard > 0;
  }

  protected async setPaused(paused: boolean): Promise<void> {
    await this.#command(
      () => (paused ? this.#queue.pause() : this.#queue.resume()),
      paused ? 'pause' : 'resume',
    );
  }

  protected async retryJob(id: string): Promise<boolean> {
    const job = await this.#command(() => this.#queue.getJob(id) as Promise<BullJob | undefined>, 'retry');
    if (!job) return false;
    if ((await this.#command(() => job.getState(), 'retry')) !== 'failed') return false;
    await this.#command(async () => {
      await this.#client.hdel(this.#key(id), CODE_FIELD);
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    }, 'retry');
    return true;
  }

  protected async failedIds(limit: number): Promise<string[]> {
    const jobs = (await this.#command(
      () => this.#queue.getJobs(['failed'], 0, limit - 1, true),
      'retryFailed',
    )) as BullJob[];
    return jobs.filter(Boolean).map((job) => job.id as string);
  }

  protected async watch(signal: AbortSignal): Promise<void> {
    const client = await connect(this.#target, this.options.connectTimeoutMs, signal);
    if (signal.aborted) {
      await releaseClient(client);
      return;
    }
    const reader = new EventReader({
      client,
      key: `${this.options.prefix}:${this.name}:events`,
      kinds: STREAM_KINDS,
      deliver: (kind, fields) => this.#heard(kind, fields),
      error: (error) => {
        if (!this.closed) this.emitError(error);
      },
      where: `queue ${describe(this.name)} at ${this.#target.where}`,
      startTimeoutMs: this.options.connectTimeoutMs,
      stallMs: this.options.commandTimeoutMs,
    });
    this.#reader = reader;
    try {
      await reader.start(signal);
    } catch (error) {
      // Closing: shutdown() lets go of the stream.
      if (signal.aborted) return;
      // Let go now: the next listener opens the stream afresh.
      this.#reader = undefined;
      await reader.close();
      throw error;
    }
  }

  /** An entry of the event stream of a kind some event is made of; nothing is built unless it is wanted. */
  #heard(kind: string, fields: readonly string[]): void {
    const jobId = field(fields, 'jobId');
    if (jobId === undefined) return;
    switch (kind) {
      case 'completed': {
        if (!this.wants('completed', jobId)) return;
        const result = parseField(fields, 'returnvalue');
        this.#remote(jobId, (job) => this.emitRemote('completed', { job, result }));
        return;
      }
      case 'failed': {
        if (!this.wants('failed', jobId)) return;
        const message = field(fields, 'failedReason') ?? '';
        this.#remote(jobId, (job, code) => {
          const failure: JobFailure = code === null ? { message } : { code, message };
          this.emitRemote('failed', {
            job,
            error: new JobFailedError(this.name, jobId, failure),
            willRetry: false,
          });
        });
        return;
      }
      // A failed attempt to be retried: announced by the worker that ran it (BullMQ announces only the last).
      case RETRY_EVENT: {
        if (!this.wants('retry', jobId)) return;
        const message = field(fields, 'failedReason') ?? '';
        const code = field(fields, 'code');
        const attempt = Number(field(fields, 'attempt'));
        this.#remote(jobId, (job) => {
          const failure: JobFailure = code === undefined ? { message } : { code, message };
          this.emitRemote('failed', {
            // The attempt that failed, not the one that may have started since.
            job: { ...job, attempt },
            error: new JobFailedError(this.name, jobId, failure),
            willRetry: true,
          });
        });
        return;
      }
      case 'progress': {
        if (!this.wants('progress', jobId)) return;
        const progress = parseField(fields, 'data') as JobProgress;
        this.#remote(jobId, (job) => this.emitRemote('progress', { job, progress }));
        return;
      }
    }
  }

  /**
   * Reads the job's name and attempt for an event from the stream, then hands them on. The stream hands
   * over its events in batches, synchronously: the reads of one batch go out together, as one script call
   * (not a pipeline of one read per event, whose building and parsing cost the listener more than the
   * stream itself), so a listener costs Redis one command per batch. Deliveries keep the stream's order (a
   * connection answers in order, and batches are sent in order).
   */
  #remote(id: string, deliver: (job: JobInfo, code: string | null) => void): void {
    this.#lookups.push({ id, deliver });
    if (this.#lookups.length === 1) queueMicrotask(() => this.#lookUp());
  }

  /** Events of the current stream batch waiting for their job's fields. */
  #lookups: { readonly id: string; readonly deliver: (job: JobInfo, code: string | null) => void }[] = [];
  /** The bounds of the batches whose reads Redis has not answered yet. */
  readonly #lookupTimers = new Set<LongTimer>();

  #lookUp(): void {
    const batch = this.#lookups;
    this.#lookups = [];
    const keys = batch.map(({ id }) => this.#key(id));
    // A Redis that never answers (frozen with the connection open) would hold the batch back without a
    // word: past commandTimeoutMs it is reported. The timer never keeps the process alive by itself.
    const ms = this.options.commandTimeoutMs;
    const timer = setLongTimeout(() => {
      this.#lookupTimers.delete(timer);
      if (this.closed) return;
      const count = batch.length === 1 ? '1 event' : `${batch.length} events`;
      this.emitError(
        new QueueConnectionError(
          `Redis at ${this.#target.where} did not answer the read of the jobs of ${count} of queue ` +
            `${describe(this.name)} within ${ms} ms (connection ${this.#client.status}); they are ` +
            'delivered if it answers later',
        ),
      );
    }, ms);
    unrefLongTimeout(timer);
    this.#lookupTimers.add(timer);
    (this.#client as FieldsClient)
      [JOB_FIELDS](keys.length, ...keys, CODE_FIELD)
      .then((fields) => {
        for (const [i, { id, deliver }] of batch.entries()) {
          const name = fields[4 * i];
          const ats = fields[4 * i + 1];
          const opts = fields[4 * i + 2];
          let attempts = 1;
          try {
            attempts = (JSON.parse(opts ?? '{}') as { attempts?: number }).attempts ?? 1;
          } catch {}
          deliver({ id, name: name ?? '', attempt: Number(ats ?? 0), attempts }, fields[4 * i + 3] ?? null);
        }
      })
      .catch((error: unknown) => {
        // At close the connection goes, and unanswered reads with it: that is the close, not a failure.
        if (!this.closed) this.emitError(error);
      })
      .finally(() => {
        clearLongTimeout(timer);
        this.#lookupTimers.delete(timer);
      });
  }

  protected async shutdown(): Promise<void> {
    // Each step is bounded by 2 × RELEASE_MS, so a Redis that is down or frozen cannot hold close() up.
    // BullMQ's Queue only borrows the connection, so closing it and releasing the connection overlap.
    const reader = this.#reader;
    this.#reader = undefined;
    for (const timer of this.#lookupTimers) clearLongTimeout(timer);
    this.#lookupTimers.clear();
    await Promise.all([
      settleWithin(this.#queue.close(), RELEASE_MS),
      releaseClient(this.#client),
      reader?.close(),
    ]);
  }

  override toString(): string {
    return `BullmqQueue(${this.name} at ${this.#target.where})`;
  }

  #key(id: string): string {
    return `${this.options.prefix}:${this.name}:${id}`;
  }

  #command<T>(start: () => Promise<T>, what: string): Promise<T> {
    return this.#bounded(start, what, this.options.commandTimeoutMs);
  }

  #bounded<T>(start: () => Promise<T>, what: string, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    return bounded(start, what, this.#target.where, timeoutMs, signal, () => this.#client.status);
  }
}

/** The command, defined on the queue's connection, that reads the fields events need from many jobs. */
const JOB_FIELDS = 'keelJobFields';
/** KEYS: the jobs' hashes; ARGV[1]: the field of the failure code. Four values per job, nil where missing. */
const JOB_FIELDS_LUA = `local out = {}
for i = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'name', 'ats', 'opts', ARGV[1])
  for j = 1, 4 do out[#out + 1] = f[j] end
end
return out`;
type FieldsClient = Redis & {
  [JOB_FIELDS](count: number, ...args: string[]): Promise<(string | null)[]>;
};

/** The kinds of stream entry the queue's events are made of. */
const STREAM_KINDS: ReadonlySet<string> = new Set(['completed', 'failed', 'progress', RETRY_EVENT]);

/** A JSON field of a stream entry (a result, a progress), as BullMQ's own reader parses it. */
function parseField(fields: readonly string[], name: string): unknown {
  const text = field(fields, name);
  return text === undefined ? undefined : JSON.parse(text);
}

function jobOptions(opts: NormalizedAdd): JobsOptions {
  const options: JobsOptions = { attempts: opts.attempts };
  if (opts.backoff !== undefined) options.backoff = { type: opts.backoff.type, delay: opts.backoff.delayMs };
  if (opts.delay > 0) options.delay = opts.delay;
  if (opts.priority !== undefined) options.priority = opts.priority;
  if (opts.jobId !== undefined) options.jobId = opts.jobId;
  return options;
}

/** BullMQ's state names in the contract's words; undefined for a job that is gone. */
function stateOf(state: string, paused: boolean): JobState | undefined {
  switch (state) {
    case 'completed':
    case 'failed':
    case 'delayed':
    case 'active':
      return state;
    case 'waiting':
    case 'prioritized':
    case 'waiting-children':
    case 'paused':
      return paused ? 'paused' : 'waiting';
    default:
      return undefined;
  }
}

function detailsOf(job: BullJob, state: JobState, code: string | null): JobDetails {
  return {
    id: job.id as string,
    name: job.name,
    data: job.data,
    state,
    attempt: job.attemptsStarted ?? 0,
    attempts: job.opts.attempts ?? 1,
    progress: (job.progress ?? 0) as JobProgress,
    ...(state === 'completed' && { result: job.returnvalue }),
    ...(state === 'failed' && {
      error: code === null ? { message: job.failedReason } : { code, message: job.failedReason },
    }),
    createdAt: job.timestamp,
    ...(job.finishedOn !== undefined &&
      (state === 'completed' || state === 'failed') && { finishedAt: job.finishedOn }),
  };
}

/** Opens a BullMQ queue at a parsed `redis://` or `rediss://` URL, refusing a Redis that may evict keys. */
export async function openBullmqQueue(
  target: RedisTarget,
  name: string,
  options?: OpenQueueOptions,
): Promise<JobQueue> {
  checkQueueName(name);
  const normalized = normalizeOpen(options);
  const secured = withTls(target, normalized.tls);
  const client = await connect(secured, normalized.connectTimeoutMs, options?.signal);
  try {
    return new BullmqQueue(secured, name, normalized, client);
  } catch (error) {
    await releaseClient(client);
    throw error;
  }
}
