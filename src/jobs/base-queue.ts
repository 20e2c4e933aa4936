/**
 * What every JobQueue shares: argument checks, schema validation, events (local and from every process),
 * waiting for results, cancel, and the close order. An engine supplies only the primitives at the bottom.
 */
import { settleWithin } from '../abort.ts';
import { describe, InvalidArgumentError, KeelError } from '../errors.ts';
import type { StandardSchemaV1 } from '../standard-schema.ts';
import { checkJobEvent, Emitter, type Listener, type Unsubscribe } from './emitter.ts';
import {
  failureOf,
  InvalidJobDataError,
  JobActiveError,
  JobFailedError,
  type JobFailure,
  JobNotFoundError,
  JobWaitTimeoutError,
  QueueClosedError,
} from './errors.ts';
import {
  checkId,
  checkJobName,
  type NormalizedAdd,
  type NormalizedOpen,
  normalizeAdd,
  normalizeAddBulkOptions,
  normalizeClose,
  normalizeCounts,
  normalizeJobs,
  normalizeProcess,
  normalizeResult,
  normalizeRetryFailed,
  serializeData,
  validateData,
} from './options.ts';
import { checkScheduleId, type NormalizedRhythm, nextCronRun, normalizeSchedule } from './schedules.ts';
import type {
  AddBulkOptions,
  AddOptions,
  BulkJob,
  CloseOptions,
  CountsOptions,
  JobCounts,
  JobDetails,
  JobEvents,
  JobHandler,
  JobQueue,
  JobState,
  JobsOptions,
  JobWorker,
  ProcessOptions,
  ResultOptions,
  RetryFailedOptions,
  Rhythm,
  ScheduleInfo,
  ScheduleOptions,
} from './types.ts';

/** A job checked and ready for the engine: `data` is the schema's output, `json` its serialized form. */
export interface EngineJob {
  readonly name: string;
  readonly data: unknown;
  readonly json: string;
  readonly options: NormalizedAdd;
}

/** What the engine's workers report to their queue. */
export interface WorkerHooks {
  /** A job's handler started here: events from elsewhere about it are this worker's own, heard already. */
  started(id: string): void;
  /** The worker gave a job back unfinished (at its close deadline): it may run elsewhere now. */
  left(id: string): void;
  /** An event of a job this worker runs (emitted to the worker's own listeners by the worker). */
  emit<E extends 'completed' | 'failed' | 'progress'>(event: E, payload: JobEvents[E]): void;
  /** A failure outside any handler. */
  error(error: unknown): void;
  /** The worker closed. */
  closed(worker: EngineWorker): void;
}

/** A worker as the engine builds it. */
export interface EngineWorker extends JobWorker {}

/** What `removeJob` found. */
export type Removal = 'removed' | 'missing' | 'active';

/** How a job ended, as `result()` waits for it. */
type Outcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly failure: JobFailure }
  | { readonly ok: 'closed' };

/** How many job ids a queue remembers as run by its own workers, to skip their echo from the event stream. */
const RECENT_LOCAL = 10_000;

/** The first and the longest pause before `result()` reads again after a read Redis did not answer. */
const RESULT_RETRY_MS = 100;
const MAX_RESULT_RETRY_MS = 1000;

/** The keys an `addBulk` entry may have; any other (a `jobId` meant for `options`, a typo) is refused. */
const BULK_KEYS: readonly string[] = ['name', 'data', 'options'];

export abstract class BaseQueue<In = unknown, Out = In> implements JobQueue<In, Out> {
  readonly name: string;
  protected readonly options: NormalizedOpen;
  readonly #schema: StandardSchemaV1 | undefined;
  readonly #events: Emitter<JobEvents>;
  readonly #workers = new Set<EngineWorker>();
  /**
   * Jobs this queue's own workers run (`running`), just failed an attempt of (`retried`) or just finished
   * (`done`), until the stream's echo arrives, oldest first: those events were heard from the workers.
   */
  readonly #local = new Map<string, 'running' | 'retried' | 'done'>();
  readonly #waiters = new Map<string, Set<(outcome: Outcome) => void>>();
  #watching: Promise<void> | undefined;
  /** Aborted at close: stops a stream that is still opening. */
  readonly #stop = new AbortController();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: NormalizedOpen) {
    this.name = name;
    this.options = options;
    this.#schema = options.schema;
    this.#events = new Emitter(`queue ${describe(name)}`);
  }

  /** How often `result()` also reads the job's state, besides listening for its end; Infinity: never. */
  protected get resultPollMs(): number {
    return Number.POSITIVE_INFINITY;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async add(name: string, data: In, options?: AddOptions): Promise<string> {
    checkJobName(name);
    const opts = normalizeAdd(options);
    this.checkOpen('add a job');
    options?.signal?.throwIfAborted();
    const job = await this.#prepare(name, data, opts);
    options?.signal?.throwIfAborted();
    this.checkOpen('add a job');
    const [id] = await this.addJobs([job], options?.signal);
    return id as string;
  }

  async addBulk(jobs: readonly BulkJob<In>[], options?: AddBulkOptions): Promise<string[]> {
    if (!Array.isArray(jobs)) {
      throw new InvalidArgumentError(`JobQueue.addBulk() jobs must be an array; received ${describe(jobs)}`);
    }
    const signal = normalizeAddBulkOptions(options);
    this.checkOpen('add jobs');
    signal?.throwIfAborted();
    const ready: EngineJob[] = new Array(jobs.length);
    // Entries that share an options object share its checked form: one check per distinct object.
    let checked: Map<object, NormalizedAdd> | undefined;
    // Every entry is checked before any is added: one bad entry adds nothing.
    for (let index = 0; index < jobs.length; index++) {
      const entry = jobs[index];
      try {
        if (typeof entry !== 'object' || entry === null) {
          throw new InvalidArgumentError(`must be { name, data, options? }; received ${describe(entry)}`);
        }
        for (const key in entry) {
          if (Object.hasOwn(entry, key) && key !== 'name' && key !== 'data' && key !== 'options') {
            throw new InvalidArgumentError(
              `unknown key ${describe(key)}; known keys: ${BULK_KEYS.join(', ')}`,
            );
          }
        }
        const { name, data, options: jobOptions } = entry;
        checkJobName(name);
        let opts: NormalizedAdd;
        if (jobOptions === undefined) opts = normalizeAdd(undefined);
        else {
          const known =
            typeof jobOptions === 'object' && jobOptions !== null ? checked?.get(jobOptions) : undefined;
          if (known !== undefined) opts = known;
          else {
            if ((jobOptions as AddOptions | null)?.signal !== undefined) {
              throw new InvalidArgumentError('options must not carry a signal (addBulk takes one for all)');
            }
            opts = normalizeAdd(jobOptions);
            (checked ??= new Map()).set(jobOptions, opts);
          }
        }
        // Without a schema nothing is awaited: ten thousand entries need not each wait a turn.
        ready[index] =
          this.#schema === undefined
            ? { name, data, json: serializeData(name, data), options: opts }
            : await this.#prepare(name, data, opts);
      } catch (error) {
        const at = `JobQueue.addBulk() jobs[${index}]`;
        if (error instanceof InvalidJobDataError) throw error.at(at);
        if (error instanceof InvalidArgumentError) {
          throw new InvalidArgumentError(`${at}: ${error.message}`, { cause: error });
        }
        throw error;
      }
    }
    signal?.throwIfAborted();
    this.checkOpen('add jobs');
    if (ready.length === 0) return [];
    return this.addJobs(ready, signal);
  }

  async process<R>(handler: JobHandler<Out, R>, options?: ProcessOptions): Promise<JobWorker> {
    const { concurrency, signal } = normalizeProcess(handler, options);
    this.checkOpen('start a worker');
    signal?.throwIfAborted();
    const worker = await this.startWorker(handler as JobHandler, concurrency, this.#hooks, signal);
    if (this.#closed) {
      await worker.close({ timeoutMs: 0 });
      throw new QueueClosedError(this.name, 'start a worker');
    }
    this.#workers.add(worker);
    return worker;
  }

  on<E extends keyof JobEvents>(event: E, listener: Listener<JobEvents[E]>): Unsubscribe {
    checkJobEvent('JobQueue.on()', event);
    const off = this.#events.on(event, listener);
    // The stream from every process opens for the first listener; a failure to open it is an `error` event.
    if (event !== 'error' && !this.#closed) {
      this.#watch().catch((error: unknown) => {
        if (!this.#closed) this.emitError(error);
      });
    }
    return off;
  }

  async counts(options?: CountsOptions): Promise<JobCounts> {
    const { timeoutMs, signal } = normalizeCounts(options);
    signal?.throwIfAborted();
    return this.countJobs(timeoutMs, signal);
  }

  async getJob(id: string): Promise<JobDetails<Out> | undefined> {
    checkId('JobQueue.getJob()', id);
    this.checkOpen('read a job');
    return (await this.findJob(id)) as JobDetails<Out> | undefined;
  }

  async jobs(options: JobsOptions): Promise<JobDetails<Out>[]> {
    const { state, limit, offset } = normalizeJobs(options);
    this.checkOpen('list jobs');
    return (await this.listJobs(state, offset, limit)) as JobDetails<Out>[];
  }

  async result<R = unknown>(id: string, options?: ResultOptions): Promise<R> {
    checkId('JobQueue.result()', id);
    const { timeoutMs, signal } = normalizeResult(options);
    this.checkOpen('wait for a job');
    signal?.throwIfAborted();
    const { promise, resolve } = Promise.withResolvers<Outcome>();
    let set = this.#waiters.get(id);
    if (set === undefined) {
      set = new Set();
      this.#waiters.set(id, set);
    }
    set.add(resolve);
    let poll: ReturnType<typeof setTimeout> | undefined;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let lastError: unknown;
    let waiting = true;
    try {
      const read = async (): Promise<void> => {
        const job = await this.findJob(id, 'result');
        if (job === undefined) throw new JobNotFoundError(this.name, id);
        if (job.state === 'completed') resolve({ ok: true, result: job.result });
        else if (job.state === 'failed') {
          resolve({ ok: false, failure: job.error ?? { message: 'failed' } });
        } else if (waiting && Number.isFinite(this.resultPollMs)) {
          // A backstop for an event lost to a reconnect: read the state again now and then.
          poll = setTimeout(() => read().catch(() => {}), this.resultPollMs);
        }
      };
      // Listen first, then read: a job that ends between the two is seen by one or the other. The whole
      // wait, opening the stream included, is bounded by timeoutMs.
      const setup = (async () => {
        for (let delay = RESULT_RETRY_MS; ; delay = Math.min(2 * delay, MAX_RESULT_RETRY_MS)) {
          try {
            await this.#watch();
            await read();
            return new Promise<never>(() => {});
          } catch (error) {
            // Redis slow or away for a while is waited out until timeoutMs; anything else ends the wait.
            if (!waiting || this.#closed || !(error instanceof KeelError && error.retryable)) throw error;
            lastError = error;
            await new Promise((resolve) => {
              retryTimer = setTimeout(resolve, delay);
            });
            if (!waiting) throw error;
          }
        }
      })();
      const ended = Promise.race([promise, setup]);
      ended.catch(() => {});
      if (!(await settleWithin(ended, timeoutMs, signal))) {
        signal?.throwIfAborted();
        throw new JobWaitTimeoutError(this.name, id, timeoutMs, lastError);
      }
      let outcome: Outcome;
      try {
        outcome = await ended;
      } catch (error) {
        // A read cut short by close() is the close, not a failure of its own.
        if (this.#closed && !(error instanceof JobNotFoundError)) {
          throw new QueueClosedError(this.name, 'wait for a job');
        }
        throw error;
      }
      if (outcome.ok === 'closed') throw new QueueClosedError(this.name, 'wait for a job');
      if (outcome.ok) return outcome.result as R;
      throw new JobFailedError(this.name, id, outcome.failure);
    } finally {
      // A read still in flight must not arm another poll once the wait is over.
      waiting = false;
      clearTimeout(poll);
      clearTimeout(retryTimer);
      set.delete(resolve);
      if (set.size === 0) this.#waiters.delete(id);
    }
  }

  async remove(id: string): Promise<boolean> {
    checkId('JobQueue.remove()', id);
    this.checkOpen('remove a job');
    const removal = await this.removeJob(id);
    if (removal === 'active') throw new JobActiveError(this.name, id);
    return removal === 'removed';
  }

  async cancel(id: string): Promise<boolean> {
    checkId('JobQueue.cancel()', id);
    this.checkOpen('cancel a job');
    // A job may start (or finish) between the read and the action; a few rounds settle it.
    for (let round = 0; round < 5; round++) {
      const job = await this.findJob(id, 'cancel');
      if (job === undefined || job.state === 'completed' || job.state === 'failed') return false;
      if (job.state === 'active') {
        if (await this.cancelActive(id)) return true;
        continue;
      }
      const removal = await this.removeJob(id, 'cancel');
      if (removal === 'removed') return true;
      if (removal === 'missing') return false;
    }
    return false;
  }

  async pause(): Promise<void> {
    this.checkOpen('pause');
    await this.setPaused(true);
  }

  async resume(): Promise<void> {
    this.checkOpen('resume');
    await this.setPaused(false);
  }

  async retry(id: string): Promise<boolean> {
    checkId('JobQueue.retry()', id);
    this.checkOpen('retry a job');
    return this.retryJob(id);
  }

  async retryFailed(options?: RetryFailedOptions): Promise<number> {
    const limit = normalizeRetryFailed(options);
    this.checkOpen('retry jobs');
    let count = 0;
    for (const id of await this.failedIds(limit)) if (await this.retryJob(id)) count++;
    return count;
  }

  async schedule(
    id: string,
    rhythm: Rhythm,
    name: string,
    data: In,
    options?: ScheduleOptions,
  ): Promise<void> {
    const s = normalizeSchedule(id, rhythm, name, options);
    this.checkOpen('schedule a job');
    s.signal?.throwIfAborted();
    const job = await this.#prepare(s.name, data, s.options);
    // An expression the parser refuses is refused now, with its reason, not at the first run.
    if ('cron' in s.rhythm) await nextCronRun(s.rhythm, Date.now());
    s.signal?.throwIfAborted();
    this.checkOpen('schedule a job');
    await this.upsertSchedule(s.id, s.rhythm, job, s.signal);
  }

  async unschedule(id: string): Promise<boolean> {
    checkScheduleId('JobQueue.unschedule()', id);
    this.checkOpen('unschedule a job');
    return this.removeSchedule(id);
  }

  async schedules(): Promise<ScheduleInfo[]> {
    this.checkOpen('list schedules');
    return this.listSchedules();
  }

  /** Closes every worker this queue started with the same deadline, then the engine, then the listeners. */
  async close(options?: CloseOptions): Promise<void> {
    const { timeoutMs, signal } = normalizeClose(options);
    this.#closed = true;
    this.#closing ??= (async () => {
      await Promise.all([...this.#workers].map((w) => w.close({ timeoutMs, ...(signal && { signal }) })));
      // Waits still pending end now; a stream still opening stops (its connection is let go).
      for (const waiters of this.#waiters.values()) for (const resolve of waiters) resolve({ ok: 'closed' });
      this.#stop.abort(new QueueClosedError(this.name, 'listen'));
      await this.#watching?.catch(() => {});
      await this.shutdown();
      this.#events.clear();
      this.#local.clear();
    })();
    await this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  protected checkOpen(operation: string): void {
    if (this.#closed) throw new QueueClosedError(this.name, operation);
  }

  /** Emits a queue-level failure (a lost connection) to the queue's `error` listeners. */
  protected emitError(error: unknown): void {
    this.#events.emit('error', { error });
  }

  /**
   * An event the engine heard from the queue's event stream (any process). Jobs this queue's own workers
   * ran were heard from them already, with richer payloads, and are skipped here.
   */
  protected emitRemote<E extends 'completed' | 'failed' | 'progress'>(event: E, payload: JobEvents[E]): void {
    this.#settle(event, payload);
    // The job's own worker here may have taken it meanwhile (the engine read the job after `wants`).
    if (this.#local.get(payload.job.id) === 'running') return;
    this.#events.emit(event, payload);
  }

  /**
   * Whether anyone here hears `event` about job `id` (`retry`: a failed attempt to be retried), and it is
   * news: the engine then reads the job and calls `emitRemote`. Events of jobs this queue's own workers run
   * were heard from them; their echo from the stream is consumed here, so a later run elsewhere is news.
   */
  protected wants(event: 'completed' | 'failed' | 'retry' | 'progress', id: string): boolean {
    const local = this.#local.get(id);
    if (local === 'running') return false;
    if (local === 'done' && event !== 'progress') {
      this.#local.delete(id);
      return false;
    }
    if (local === 'retried' && event !== 'progress') {
      this.#local.delete(id);
      // Its own retry echo; a final failure after that attempt ran elsewhere is news.
      if (event === 'retry') return false;
    }
    if (event === 'retry') return this.#events.has('failed');
    return this.#events.has(event) || (event !== 'progress' && this.#waiters.has(id));
  }

  readonly #hooks: WorkerHooks = {
    started: (id) => {
      this.#local.delete(id);
      this.#local.set(id, 'running');
      if (this.#local.size > RECENT_LOCAL) this.#local.delete(this.#local.keys().next().value as string);
    },
    left: (id) => {
      this.#local.delete(id);
    },
    emit: (event, payload) => {
      const id = payload.job.id;
      if (event === 'completed') this.#local.set(id, 'done');
      else if (event === 'failed') {
        // A failure to be retried may be retried in another process: its later events are news here.
        this.#local.set(id, (payload as JobEvents['failed']).willRetry ? 'retried' : 'done');
      }
      this.#settle(event, payload);
      this.#events.emit(event, payload);
    },
    error: (error) => this.#events.emit('error', { error }),
    closed: (worker) => {
      this.#workers.delete(worker);
    },
  };

  #settle(event: 'completed' | 'failed' | 'progress', payload: JobEvents[typeof event]): void {
    const waiters = this.#waiters.get(payload.job.id);
    if (waiters === undefined) return;
    let outcome: Outcome;
    if (event === 'completed') outcome = { ok: true, result: (payload as JobEvents['completed']).result };
    else if (event === 'failed' && !(payload as JobEvents['failed']).willRetry) {
      const error = (payload as JobEvents['failed']).error;
      // From another process the failure arrives wrapped already; its cause is the original's code and message.
      const failure = error instanceof JobFailedError ? (error.cause as JobFailure) : failureOf(error);
      outcome = { ok: false, failure };
    } else return;
    for (const resolve of waiters) resolve(outcome);
  }

  /** Starts hearing events from every process, once; later calls share the first. */
  #watch(): Promise<void> {
    this.#watching ??= this.watch(this.#stop.signal).catch((error: unknown) => {
      this.#watching = undefined;
      throw error;
    });
    return this.#watching;
  }

  async #prepare(name: string, data: unknown, options: NormalizedAdd): Promise<EngineJob> {
    const value = await validateData(this.#schema, this.name, name, data);
    return { name, data: value, json: serializeData(name, value), options };
  }

  // ---- Engine primitives -------------------------------------------------------------------------------
  // Arguments are checked and the queue is open when these run. A new capability adds its primitives here.

  /** Adds checked jobs, all or none; resolves to their ids in order (an existing job's id for a known jobId). */
  protected abstract addJobs(jobs: readonly EngineJob[], signal: AbortSignal | undefined): Promise<string[]>;
  /** Starts a worker that is taking jobs once this resolves. */
  protected abstract startWorker(
    handler: JobHandler,
    concurrency: number,
    hooks: WorkerHooks,
    signal: AbortSignal | undefined,
  ): Promise<EngineWorker>;
  protected abstract countJobs(
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<JobCounts>;
  /** `what`: the call it serves, for a connection error's message. */
  protected abstract findJob(id: string, what?: string): Promise<JobDetails | undefined>;
  protected abstract listJobs(state: JobState, offset: number, limit: number): Promise<JobDetails[]>;
  /** Removes a job that is not active. */
  protected abstract removeJob(id: string, what?: string): Promise<Removal>;
  /** Aborts the handler running job `id`, wherever it runs; resolves `false` when the job is not active. */
  protected abstract cancelActive(id: string): Promise<boolean>;
  protected abstract setPaused(paused: boolean): Promise<void>;
  /** Requeues a failed job; resolves `false` when no failed job has this id. */
  protected abstract retryJob(id: string): Promise<boolean>;
  /** Ids of failed jobs, oldest first, at most `limit`. */
  protected abstract failedIds(limit: number): Promise<string[]>;
  /** Starts delivering events from every process through `emitRemote`; resolves once it hears them. */
  protected abstract watch(signal: AbortSignal): Promise<void>;
  /** Adds or replaces schedule `id`: from now on `job` is added on `rhythm` (see schedules.ts). */
  protected abstract upsertSchedule(
    id: string,
    rhythm: NormalizedRhythm,
    job: EngineJob,
    signal: AbortSignal | undefined,
  ): Promise<void>;
  /** Removes schedule `id`; resolves `false` when there was none. */
  protected abstract removeSchedule(id: string): Promise<boolean>;
  /** The schedules, soonest next run first. */
  protected abstract listSchedules(): Promise<ScheduleInfo[]>;
  /** Lets go of the engine's own resources; the workers are closed already. */
  protected abstract shutdown(): Promise<void>;
}
