/** A BullMQ worker behind the JobWorker contract: aborts handlers past its close deadline, then lets go. */
import { type Job as BullJob, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { settleWithin } from '../../abort.ts';
import { describe } from '../../errors.ts';
import type { EngineWorker, WorkerHooks } from '../base-queue.ts';
import { ABORT_GRACE_MS } from '../deadline.ts';
import { checkJobEvent, Emitter, type Listener, type Unsubscribe } from '../emitter.ts';
import { failureOf, JobAbortedError, JobCancelledError, QueueConnectionError } from '../errors.ts';
import { checkResult, type NormalizedOpen, normalizeClose } from '../options.ts';
import type { CloseOptions, Job, JobEvents, JobHandler, JobInfo, JobProgress } from '../types.ts';
import { ended, RELEASE_MS, releaseClient } from './redis-connection.ts';

/** The job hash field that keeps a failure's code (BullMQ keeps only the message). */
export const CODE_FIELD = 'keelCode';

/** The event a worker adds to the queue's event stream for a failed attempt that will be retried. */
export const RETRY_EVENT = 'keel-retry';

/** How long a worker remembers a cancelled run, for a handler that starts just after the cancel. */
const CANCEL_MEMORY_MS = 5000;

/** The channel every worker of a queue listens on for the runs of jobs to cancel. */
export const cancelChannel = (prefix: string, queue: string) => `${prefix}:${queue}:keel-cancel`;

/**
 * Names one run of a job: the id alone would also cancel a later job under the same id (added again after
 * a remove, or retried), so a cancel carries when the job was created and when this attempt became active.
 */
export const runKey = (job: Pick<BullJob, 'id' | 'timestamp' | 'processedOn'>): string =>
  JSON.stringify([job.id, String(job.timestamp), String(job.processedOn)]);

interface Run {
  readonly id: string;
  /** The run's `runKey`, which a cancel names. */
  readonly key: string;
  /** Made when the handler first reads its signal, or at an abort: most handlers never read it. */
  controller: AbortController | undefined;
  /** Set by a cancel: whatever the handler does next, the job fails as cancelled, without a retry. */
  cancelled: JobCancelledError | undefined;
  /** Armed by a cancel: ends the wait for a handler that ignores its signal. */
  grace?: ReturnType<typeof setTimeout>;
  /** Set at the close deadline: a failure from here on is our doing, so the job goes back to waiting. */
  shutdown: boolean;
  /** Stops waiting for a handler that ignored its aborted signal. */
  release: () => void;
}

const released = Symbol('released');

function abortRun(run: Run, reason: unknown): void {
  run.controller ??= new AbortController();
  run.controller.abort(reason);
}

export interface WorkerSettings {
  readonly queue: string;
  /** The worker's own connection (BullMQ adds a blocking one); the worker quits it when it closes. */
  readonly client: Redis;
  /** A connection of its own that listens for cancellations; the worker quits it when it closes. */
  readonly listener: Redis;
  readonly options: NormalizedOpen;
  readonly concurrency: number;
  readonly hooks: WorkerHooks;
}

const toInfo = (job: BullJob, attempt: number): JobInfo => ({
  id: job.id as string,
  name: job.name,
  attempt,
  attempts: job.opts.attempts ?? 1,
});

export class BullmqWorker implements EngineWorker {
  readonly #settings: WorkerSettings;
  readonly #worker: Worker;
  readonly #events: Emitter<JobEvents>;
  readonly #runs = new Set<Run>();
  /** The attempt each job was on when its handler started; BullMQ counts attempts only after a failure. */
  readonly #started = new WeakMap<BullJob, JobInfo>();
  /** Runs cancelled lately (by `runKey`), oldest first, with when. */
  readonly #recentCancels = new Map<string, number>();
  /** The cancellation of each cancelled job, reported instead of BullMQ's UnrecoverableError. */
  readonly #cancelled = new WeakMap<BullJob, JobCancelledError>();
  #closing: Promise<void> | undefined;

  constructor(handler: JobHandler, settings: WorkerSettings) {
    this.#settings = settings;
    this.#events = new Emitter(`worker of queue ${describe(settings.queue)}`);
    const { options } = settings;
    // Two parameters on purpose: BullMQ then spares an abort controller of its own per job; the handler's
    // signal is ours, aborted at the close deadline.
    const processor = (job: BullJob, token: string | undefined) => this.#run(handler, job, token);
    this.#worker = new Worker(settings.queue, processor, {
      connection: settings.client,
      prefix: options.prefix,
      concurrency: settings.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.stalledIntervalMs,
      maxStalledCount: options.maxStalledCount,
      removeOnComplete: { count: options.keepCompleted },
      removeOnFail: { count: options.keepFailed },
      ...(options.limit && { limiter: { max: options.limit.max, duration: options.limit.durationMs } }),
      autorun: false,
    });
    this.#worker.on('completed', (job, result) => {
      const info = this.#started.get(job) ?? toInfo(job, job.attemptsMade);
      this.#emit('completed', { job: info, result });
    });
    this.#worker.on('failed', (job, error) => {
      if (job === undefined) return;
      const info = this.#started.get(job) ?? toInfo(job, job.attemptsMade);
      const willRetry = !job.finishedOn;
      if (willRetry) this.#announceRetry(info, error);
      this.#emit('failed', { job: info, error: this.#cancelled.get(job) ?? error, willRetry });
    });
    this.#worker.on('error', (error) => this.#emit('error', { error }));
  }

  /**
   * Tells every process listening on the queue that an attempt failed and will be retried: BullMQ's own
   * stream announces only the final failure. Best effort, as the stream's events are.
   */
  #announceRetry(job: JobInfo, error: unknown): void {
    const { client, options, queue } = this.#settings;
    const { code, message } = failureOf(error);
    const fields = [
      'event',
      RETRY_EVENT,
      'jobId',
      job.id,
      'attempt',
      String(job.attempt),
      'failedReason',
      message,
    ];
    if (code !== undefined) fields.push('code', code);
    client
      .xadd(`${options.prefix}:${queue}:events`, 'MAXLEN', '~', '10000', '*', ...fields)
      .catch((failure: unknown) => this.#emit('error', { error: failure }));
  }

  /** Connects, listens for cancellations, and starts taking jobs. */
  async start(signal?: AbortSignal): Promise<void> {
    const { listener, options, queue } = this.#settings;
    listener.on('message', (_channel: string, key: string) => this.#cancel(key));
    const ready = Promise.all([
      this.#worker.waitUntilReady(),
      listener.subscribe(cancelChannel(options.prefix, queue)),
    ]);
    try {
      const timeoutMs = this.#settings.options.connectTimeoutMs;
      if (!(await settleWithin(ready, timeoutMs, signal))) {
        signal?.throwIfAborted();
        throw new QueueConnectionError(
          `The worker of queue ${describe(this.#settings.queue)} was not ready within ${timeoutMs} ms`,
        );
      }
      await ready;
    } catch (error) {
      await this.#letGo(this.#worker.close(true));
      throw error;
    }
    this.#worker.run().catch((error: unknown) => this.#emit('error', { error }));
  }

  async pause(): Promise<void> {
    // Active jobs run on; only fetching stops.
    await this.#worker.pause(true);
  }

  async resume(): Promise<void> {
    this.#worker.resume();
  }

  /**
   * Aborts the run named by `key` (see `runKey`) when this worker has it. The key is also kept a while: a
   * cancel may arrive just before the handler starts (the job is active already, its handler not yet
   * called). It names that run only, so the same id coming back later runs as any job does.
   */
  #cancel(key: string): void {
    const now = Date.now();
    for (const [old, at] of this.#recentCancels) {
      if (now - at < CANCEL_MEMORY_MS) break;
      this.#recentCancels.delete(old);
    }
    this.#recentCancels.set(key, now);
    for (const run of this.#runs) if (run.key === key) this.#abortCancelled(run);
  }

  #abortCancelled(run: Run): void {
    if (run.cancelled !== undefined) return;
    run.cancelled = new JobCancelledError(this.#settings.queue, run.id);
    abortRun(run, run.cancelled);
    // A handler that ignores its signal is not waited for past the grace: the job fails as cancelled.
    run.grace = setTimeout(run.release, ABORT_GRACE_MS);
  }

  on<E extends keyof JobEvents>(event: E, listener: Listener<JobEvents[E]>): Unsubscribe {
    checkJobEvent('JobWorker.on()', event);
    return this.#events.on(event, listener);
  }

  #emit<E extends keyof JobEvents>(event: E, payload: JobEvents[E]): void {
    if (event === 'error') {
      // An error nobody hears on the worker goes to the queue (and from there to the last-resort sink).
      if (this.#events.has('error')) this.#events.emit('error', payload as JobEvents['error']);
      else this.#settings.hooks.error((payload as JobEvents['error']).error);
      return;
    }
    if (this.#events.has(event)) this.#events.emit(event, payload);
    this.#settings.hooks.emit(event as 'completed', payload as JobEvents['completed']);
  }

  async #run(handler: JobHandler, bull: BullJob, token: string | undefined): Promise<unknown> {
    // Set below, in the same turn, before anything can call `run.release`.
    let letGo: (value: typeof released) => void = () => {};
    const info = toInfo(bull, bull.attemptsMade + 1);
    const run: Run = {
      id: info.id,
      key: runKey(bull),
      controller: undefined,
      cancelled: undefined,
      shutdown: false,
      release: () => letGo(released),
    };
    this.#runs.add(run);
    this.#started.set(bull, info);
    this.#settings.hooks.started(info.id);
    const cancelledAt = this.#recentCancels.get(run.key);
    if (cancelledAt !== undefined && Date.now() - cancelledAt < CANCEL_MEMORY_MS) this.#abortCancelled(run);
    const job: Job = {
      id: info.id,
      name: info.name,
      data: bull.data,
      attempt: info.attempt,
      attempts: info.attempts,
      progress: async (value: JobProgress) => {
        // Bounded like every other command, so a handler never hangs on a Redis that does not answer.
        const timeoutMs = this.#settings.options.commandTimeoutMs;
        const updating = bull.updateProgress(value);
        if (!(await settleWithin(updating, timeoutMs))) {
          throw new QueueConnectionError(
            `Redis did not answer the progress of job ${describe(info.id)} within ${timeoutMs} ms`,
          );
        }
        await updating;
        this.#emit('progress', { job: info, progress: value });
      },
    };
    try {
      // A job cancelled before its handler started never runs it.
      if (run.cancelled) throw run.cancelled;
      const context = {
        get signal(): AbortSignal {
          run.controller ??= new AbortController();
          return run.controller.signal;
        },
      };
      const work = Promise.resolve().then(() => handler(job, context));
      // A handler that outlives the grace keeps running, but nobody waits for it or hears its outcome (its
      // rejection is handled here, and ignored once released).
      const result = await new Promise<unknown>((resolve, reject) => {
        letGo = resolve;
        work.then(resolve, reject);
      });
      if (run.cancelled) throw await this.#fail(bull, run.cancelled);
      if (result === released) return await this.#giveBack(bull, token);
      checkResult(info.name, result);
      return result;
    } catch (error) {
      if (run.cancelled) throw await this.#fail(bull, run.cancelled);
      if (run.shutdown) return await this.#giveBack(bull, token);
      throw await this.#fail(bull, error);
    } finally {
      clearTimeout(run.grace);
      this.#runs.delete(run);
      // That run is over: its cancel has nothing more to catch.
      this.#recentCancels.delete(run.key);
    }
  }

  /**
   * Keeps a failure's code on the job (BullMQ keeps only the message), and turns a cancellation into the
   * error BullMQ does not retry; returns what to throw.
   */
  async #fail(bull: BullJob, error: unknown): Promise<unknown> {
    const { code } = failureOf(error);
    if (code !== undefined) {
      const { prefix } = this.#settings.options;
      // Bounded: a Redis that does not answer costs the code, not the job's outcome.
      await settleWithin(
        this.#settings.client.hset(`${prefix}:${this.#settings.queue}:${bull.id}`, CODE_FIELD, code),
        this.#settings.options.commandTimeoutMs,
      ).catch(() => {});
    }
    if (error instanceof JobCancelledError) {
      this.#cancelled.set(bull, error);
      return new UnrecoverableError(error.message);
    }
    return error;
  }

  /** Returns a job to waiting without using up an attempt (BullMQ's WaitingError protocol). */
  async #giveBack(bull: BullJob, token: string | undefined): Promise<never> {
    this.#settings.hooks.left(bull.id as string);
    if (token !== undefined) await bull.moveToWait(token);
    throw new WaitingError();
  }

  async close(options?: CloseOptions): Promise<void> {
    const { timeoutMs, signal } = normalizeClose(options, 'JobWorker.close()');
    this.#closing ??= (async () => {
      const closing = this.#worker.close();
      if (!(await settleWithin(closing, timeoutMs, signal))) {
        for (const run of this.#runs) {
          run.shutdown = true;
          abortRun(run, new JobAbortedError(this.#settings.queue, run.id));
        }
        if (!(await settleWithin(closing, ABORT_GRACE_MS))) {
          for (const run of this.#runs) run.release();
        }
      }
      await this.#letGo(closing);
      this.#settings.hooks.closed(this);
      this.#events.clear();
    })();
    await this.#closing;
  }

  /**
   * Lets go within 2 × RELEASE_MS in all: waits up to RELEASE_MS for BullMQ's close, then releases our
   * connection in the time left. Past RELEASE_MS (Redis down or frozen, a QUIT nobody answers) it drops
   * both connections, which lets BullMQ's close end too, and waits up to RELEASE_MS for the sockets.
   */
  async #letGo(closing: Promise<void>): Promise<void> {
    closing.catch((error: unknown) => this.#emit('error', { error }));
    const { client, listener } = this.#settings;
    const deadline = Date.now() + 2 * RELEASE_MS;
    if (await settleWithin(closing, RELEASE_MS)) {
      await Promise.all([
        releaseClient(client, deadline - Date.now()),
        releaseClient(listener, deadline - Date.now()),
      ]);
      return;
    }
    this.#worker.disconnect().catch(() => {});
    client.disconnect();
    listener.disconnect();
    await settleWithin([closing, ended(client, RELEASE_MS), ended(listener, RELEASE_MS)], RELEASE_MS);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
