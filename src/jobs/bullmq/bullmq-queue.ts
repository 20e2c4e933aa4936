/** The durable job queue on Redis through BullMQ: jobs outlive processes, and workers anywhere compete. */

import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { raceAbort } from '../../abort.ts';
import type { StandardSchemaV1 } from '../../standard-schema.ts';
import { Emitter, type Listener, type Unsubscribe } from '../emitter.ts';
import { QueueClosedError } from '../errors.ts';
import {
  checkJobName,
  checkQueueName,
  type NormalizedOpen,
  normalizeAdd,
  normalizeClose,
  normalizeOpen,
  normalizeProcess,
  serializeData,
  validateData,
} from '../options.ts';
import type {
  AddOptions,
  CloseOptions,
  JobCounts,
  JobEvents,
  JobHandler,
  JobQueue,
  JobWorker,
  OpenQueueOptions,
  ProcessOptions,
} from '../types.ts';
import { BullmqWorker } from './bullmq-worker.ts';
import { connect, where } from './redis-connection.ts';

/** Waits for `work`, or rejects with the signal's reason when it aborts first (the work may still happen). */
function abortable<T>(start: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  signal?.throwIfAborted();
  return raceAbort(start(), signal);
}

export class BullmqQueue<In = unknown, Out = In> implements JobQueue<In, Out> {
  readonly name: string;
  readonly #url: URL;
  readonly #options: NormalizedOpen;
  readonly #schema: StandardSchemaV1 | undefined;
  readonly #client: Redis;
  readonly #queue: Queue;
  readonly #events = new Emitter<JobEvents>();
  readonly #workers = new Set<BullmqWorker>();
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Use `openBullmqQueue`, which connects and checks the server first. */
  constructor(url: URL, name: string, options: NormalizedOpen, client: Redis) {
    this.name = name;
    this.#url = url;
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
    const job = await abortable(() => this.#queue.add(name, value ?? null, jobOptions), options?.signal);
    return job.id as string;
  }

  async process<R>(handler: JobHandler<Out, R>, options?: ProcessOptions): Promise<JobWorker> {
    const { concurrency, signal } = normalizeProcess(handler, options);
    if (this.#closed) throw new QueueClosedError(this.name, 'start a worker');
    signal?.throwIfAborted();
    // Its own connection, so a burst of adds never delays a worker's lock renewals (and vice versa).
    const client = await connect(this.#url, this.#options.connectTimeoutMs, signal);
    if (this.#closed) {
      client.disconnect();
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

  async counts(options: { readonly signal?: AbortSignal } = {}): Promise<JobCounts> {
    const c = await abortable(
      () => this.#queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'),
      options.signal,
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
      await Promise.all([...this.#workers].map((w) => w.close({ timeoutMs, ...(signal && { signal }) })));
      await this.#queue.close();
      await this.#client.quit().catch(() => this.#client.disconnect());
      this.#events.clear();
    })();
    await this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  toString(): string {
    return `BullmqQueue(${this.name} at ${where(this.#url)})`;
  }
}

/** Opens a BullMQ queue at a `redis://` or `rediss://` URL, refusing a Redis that may evict keys. */
export async function openBullmqQueue(url: URL, name: string, options?: OpenQueueOptions): Promise<JobQueue> {
  checkQueueName(name);
  const normalized = normalizeOpen(options);
  const client = await connect(url, normalized.connectTimeoutMs, options?.signal);
  try {
    return new BullmqQueue(url, name, normalized, client);
  } catch (error) {
    client.disconnect();
    throw error;
  }
}
