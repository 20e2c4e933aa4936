/** The durable job queue on Redis through BullMQ: jobs outlive processes, and workers anywhere compete. */

import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { settleWithin } from '../../abort.ts';
import { describe } from '../../errors.ts';
import type { StandardSchemaV1 } from '../../standard-schema.ts';
import { Emitter, type Listener, type Unsubscribe } from '../emitter.ts';
import { QueueClosedError, QueueConnectionError } from '../errors.ts';
import {
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
import type { RedisTarget } from '../redis-url.ts';
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
import { BullmqScheduler } from './bullmq-scheduler.ts';
import { BullmqWorker } from './bullmq-worker.ts';
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

export class BullmqQueue<In = unknown, Out = In> implements JobQueue<In, Out> {
  readonly name: string;
  readonly #target: RedisTarget;
  readonly #options: NormalizedOpen;
  readonly #schema: StandardSchemaV1 | undefined;
  readonly #client: Redis;
  readonly #queue: Queue;
  readonly #events: Emitter<JobEvents>;
  readonly #workers = new Set<BullmqWorker>();
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #scheduler: BullmqScheduler;

  /** Use `openBullmqQueue`, which connects and checks the server first. */
  constructor(target: RedisTarget, name: string, options: NormalizedOpen, client: Redis) {
    this.name = name;
    this.#events = new Emitter(`queue ${describe(name)}`);
    this.#target = target;
    this.#options = options;
    this.#schema = options.schema;
    this.#client = client;
    this.#queue = new Queue(name, {
      connection: client,
      prefix: options.prefix,
      defaultJobOptions: {
        removeOnComplete: { count: options.keepCompleted },
        removeOnFail: { count: options.keepFailed },
      },
    });
    this.#queue.on('error', (error) => this.#events.emit('error', { error }));
    this.#scheduler = new BullmqScheduler({
      queue: this.#queue,
      name,
      closed: () => this.#closed,
      check: async (job, data) => {
        const value = await validateData(this.#schema, this.name, job, data);
        serializeData(job, value);
        return value;
      },
      bounded: (start, what, signal) => this.#bounded(start, what, this.#options.commandTimeoutMs, signal),
    });
  }

  schedule(id: string, rhythm: Rhythm, name: string, data: In, options?: ScheduleOptions): Promise<void> {
    return this.#scheduler.schedule(id, rhythm, name, data, options);
  }

  unschedule(id: string): Promise<boolean> {
    return this.#scheduler.unschedule(id);
  }

  schedules(): Promise<ScheduleInfo[]> {
    return this.#scheduler.list();
  }

  async add(name: string, data: In, options?: AddOptions): Promise<string> {
    checkJobName(name);
    const opts = normalizeAdd(options);
    if (this.#closed) throw new QueueClosedError(this.name, 'add a job');
    options?.signal?.throwIfAborted();
    const value = await validateData(this.#schema, this.name, name, data);
    serializeData(name, value);
    const jobOptions: JobsOptions = { attempts: opts.attempts };
    if (opts.backoff !== undefined)
      jobOptions.backoff = { type: opts.backoff.type, delay: opts.backoff.delayMs };
    if (opts.delay > 0) jobOptions.delay = opts.delay;
    if (opts.priority !== undefined) jobOptions.priority = opts.priority;
    if (opts.jobId !== undefined) jobOptions.jobId = opts.jobId;
    const job = await this.#bounded(
      () => this.#queue.add(name, value ?? null, jobOptions),
      `add of job ${describe(name)}`,
      this.#options.commandTimeoutMs,
      options?.signal,
    );
    return job.id as string;
  }

  async process<R>(handler: JobHandler<Out, R>, options?: ProcessOptions): Promise<JobWorker> {
    const { concurrency, signal } = normalizeProcess(handler, options);
    if (this.#closed) throw new QueueClosedError(this.name, 'start a worker');
    signal?.throwIfAborted();
    // Its own connection, so a burst of adds never delays a worker's lock renewals (and vice versa).
    const client = await connect(this.#target, this.#options.connectTimeoutMs, signal);
    if (this.#closed) {
      await releaseClient(client);
      throw new QueueClosedError(this.name, 'start a worker');
    }
    const worker = new BullmqWorker(handler as JobHandler, {
      queue: this.name,
      client,
      options: this.#options,
      concurrency,
      queueEvents: this.#events,
      onClosed: (w) => {
        this.#workers.delete(w);
      },
    });
    this.#workers.add(worker);
    try {
      await worker.start(signal);
    } catch (error) {
      this.#workers.delete(worker);
      throw error;
    }
    return worker;
  }

  on<E extends keyof JobEvents>(event: E, listener: Listener<JobEvents[E]>): Unsubscribe {
    return this.#events.on(event, listener);
  }

  async counts(options?: CountsOptions): Promise<JobCounts> {
    const { timeoutMs, signal } = normalizeCounts(options);
    const c = await this.#bounded(
      () => this.#queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'),
      'counts',
      timeoutMs ?? this.#options.commandTimeoutMs,
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

  async close(options?: CloseOptions): Promise<void> {
    const { timeoutMs, signal } = normalizeClose(options);
    this.#closed = true;
    this.#closing ??= (async () => {
      // Each step is bounded: a worker by its deadline and then 2 × RELEASE_MS (see BullmqWorker.close), the
      // queue's own connection by 2 × RELEASE_MS, so a Redis that is down or frozen cannot hold close() up.
      // BullMQ's Queue only borrows the connection, so closing it and releasing the connection overlap.
      await Promise.all([...this.#workers].map((w) => w.close({ timeoutMs, ...(signal && { signal }) })));
      await Promise.all([settleWithin(this.#queue.close(), RELEASE_MS), releaseClient(this.#client)]);
      this.#events.clear();
    })();
    await this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  toString(): string {
    return `BullmqQueue(${this.name} at ${this.#target.where})`;
  }

  #bounded<T>(start: () => Promise<T>, what: string, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    return bounded(start, what, this.#target.where, timeoutMs, signal, () => this.#client.status);
  }
}

/** Opens a BullMQ queue at a parsed `redis://` or `rediss://` URL, refusing a Redis that may evict keys. */
export async function openBullmqQueue(
  target: RedisTarget,
  name: string,
  options?: OpenQueueOptions,
): Promise<JobQueue> {
  checkQueueName(name);
  const normalized = normalizeOpen(options);
  const client = await connect(target, normalized.connectTimeoutMs, options?.signal);
  try {
    return new BullmqQueue(target, name, normalized, client);
  } catch (error) {
    await releaseClient(client);
    throw error;
  }
}
