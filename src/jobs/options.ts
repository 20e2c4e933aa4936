/** Checks and normalizes the options of the job queue contract once, for every implementation. */
import { MAX_TIMER_MS } from '../abort.ts';
import {
  checkCount,
  checkDuration,
  checkOptions,
  checkSignal,
  describe,
  InvalidArgumentError,
} from '../errors.ts';
import { checkSchema, type StandardSchemaV1 } from '../standard-schema.ts';
import { resolveTls, type TlsSettings } from '../transport/tls-options.ts';
import { InvalidJobDataError } from './errors.ts';
import type {
  AddBulkOptions,
  AddOptions,
  Backoff,
  CloseOptions,
  CountsOptions,
  JobState,
  JobsOptions,
  OpenQueueOptions,
  ProcessOptions,
  ResultOptions,
  RetryFailedOptions,
} from './types.ts';

/** The highest priority number a job may have (the lowest precedence), as in BullMQ. */
export const MAX_PRIORITY = 2 ** 21;

/**
 * The longest `delay` or backoff step, 4 years. BullMQ scores a delayed job as its due time × 4096 in a
 * double, exact only up to 2^53 (the year 2039); a longer delay would lose the job's place among its peers.
 * Both queues refuse it alike.
 */
export const MAX_DELAY_MS = 4 * 365.25 * 86_400_000;

/** Characters a queue name may use: they are safe in a Redis key, a log line and a URL path. */
const QUEUE_NAME = /^[A-Za-z0-9._-]{1,100}$/;

export interface NormalizedAdd {
  readonly attempts: number;
  readonly backoff: { readonly type: 'fixed' | 'exponential'; readonly delayMs: number } | undefined;
  readonly delay: number;
  readonly priority: number | undefined;
  readonly jobId: string | undefined;
}

export interface NormalizedOpen {
  readonly schema: StandardSchemaV1 | undefined;
  readonly keepCompleted: number;
  readonly keepFailed: number;
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly maxStalledCount: number;
  readonly limit: { readonly max: number; readonly durationMs: number } | undefined;
  readonly prefix: string;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  /** tls.connect settings from the `tls` option, or undefined. */
  readonly tls: TlsSettings | undefined;
}

/**
 * A millisecond option: finite, ≥ `min`, ≤ `max`, rounded up to whole milliseconds (Redis stores integers).
 * `max` is where a driver would hand the value to a platform timer, or lose precision; past it the value is
 * refused by name instead of wrapping.
 */
function checkMs(label: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const ms = checkDuration(label, value, { min, allowInfinity: false });
  if (ms > max) {
    throw new InvalidArgumentError(`${label} must be at most ${max} ms; received ${describe(value)}`);
  }
  return Math.ceil(ms);
}

/** Throws unless `name` is a usable queue name: 1 to 100 characters from A-Z, a-z, 0-9, ".", "_", "-". */
export function checkQueueName(name: unknown): string {
  if (typeof name !== 'string' || !QUEUE_NAME.test(name)) {
    throw new InvalidArgumentError(
      `openQueue() queue name must be 1 to 100 characters from A-Z a-z 0-9 . _ -; received ${describe(name)}`,
    );
  }
  return name;
}

export function checkJobName(name: unknown): string {
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError(
      `JobQueue.add() job name must be a non-empty string; received ${describe(name)}`,
    );
  }
  return name;
}

/**
 * Throws unless `jobId` is an id BullMQ accepts, so both queues refuse the same ids: not a string that
 * `parseInt` gives back unchanged (`"12"`, `"NaN"`; integers are the generated ids), no `:` (a key
 * separator), not empty.
 */
export function checkJobId(jobId: unknown): string {
  if (
    typeof jobId !== 'string' ||
    jobId === '' ||
    jobId.includes(':') ||
    /^-?\d+$/.test(jobId) ||
    `${Number.parseInt(jobId, 10)}` === jobId
  ) {
    throw new InvalidArgumentError(
      'JobQueue.add() jobId must be a non-empty string that is not an integer (nor "NaN") and has no ":"; ' +
        `received ${describe(jobId)}`,
    );
  }
  return jobId;
}

const addKeys = ['attempts', 'backoff', 'delay', 'priority', 'jobId', 'signal'];

function checkBackoff(value: Backoff | undefined): NormalizedAdd['backoff'] {
  if (value === undefined) return undefined;
  if (typeof value === 'number')
    return { type: 'fixed', delayMs: checkMs('JobQueue.add() backoff', value, 0, MAX_DELAY_MS) };
  if (
    typeof value !== 'object' ||
    value === null ||
    (value.type !== 'fixed' && value.type !== 'exponential')
  ) {
    throw new InvalidArgumentError(
      `JobQueue.add() backoff must be a delay in ms or { type: 'fixed' | 'exponential', delayMs }; received ${describe(value)}` +
        (typeof value === 'object' && value !== null
          ? ` with type ${describe((value as { type?: unknown }).type)}`
          : ''),
    );
  }
  checkOptions('JobQueue.add() backoff', value, ['type', 'delayMs']);
  return {
    type: value.type,
    delayMs: checkMs('JobQueue.add() backoff.delayMs', value.delayMs, 0, MAX_DELAY_MS),
  };
}

/** A job's options when none are given: one object, made once. */
const DEFAULT_ADD: NormalizedAdd = Object.freeze({
  attempts: 1,
  backoff: undefined,
  delay: 0,
  priority: undefined,
  jobId: undefined,
});

export function normalizeAdd(options: AddOptions | undefined): NormalizedAdd {
  if (options === undefined) return DEFAULT_ADD;
  checkOptions('JobQueue.add() options', options, addKeys);
  const o = options;
  checkSignal('JobQueue.add() signal', o.signal);
  const jobId = o.jobId === undefined ? undefined : checkJobId(o.jobId);
  const priority = o.priority;
  if (
    priority !== undefined &&
    !(typeof priority === 'number' && Number.isInteger(priority) && priority >= 1 && priority <= MAX_PRIORITY)
  ) {
    throw new InvalidArgumentError(
      `JobQueue.add() priority must be an integer from 1 to ${MAX_PRIORITY}; received ${describe(priority)}`,
    );
  }
  return {
    attempts: o.attempts === undefined ? 1 : checkCount('JobQueue.add() attempts', o.attempts),
    backoff: checkBackoff(o.backoff),
    delay: o.delay === undefined ? 0 : checkMs('JobQueue.add() delay', o.delay, 0, MAX_DELAY_MS),
    priority,
    jobId,
  };
}

/** The wait before retry number `retry` (1 for the first retry), as BullMQ computes it. */
export function backoffDelay(backoff: NormalizedAdd['backoff'], retry: number): number {
  if (backoff === undefined) return 0;
  return backoff.type === 'fixed' ? backoff.delayMs : Math.round(2 ** (retry - 1) * backoff.delayMs);
}

export function normalizeProcess(
  handler: unknown,
  options: ProcessOptions | undefined,
): { concurrency: number; signal: AbortSignal | undefined } {
  if (typeof handler !== 'function') {
    throw new InvalidArgumentError(
      `JobQueue.process() handler must be a function; received ${describe(handler)}`,
    );
  }
  checkOptions('JobQueue.process() options', options, ['concurrency', 'signal']);
  const o = options ?? {};
  checkSignal('JobQueue.process() signal', o.signal);
  return {
    concurrency:
      o.concurrency === undefined ? 1 : checkCount('JobQueue.process() concurrency', o.concurrency),
    signal: o.signal,
  };
}

/** `call` names the method for messages: `JobQueue.close()` or `JobWorker.close()`. */
export function normalizeClose(
  options: CloseOptions | undefined,
  call = 'JobQueue.close()',
): {
  timeoutMs: number;
  signal: AbortSignal | undefined;
} {
  checkOptions(`${call} options`, options, ['timeoutMs', 'signal']);
  const o = options ?? {};
  checkSignal(`${call} signal`, o.signal);
  return {
    timeoutMs:
      o.timeoutMs === undefined
        ? 30_000
        : checkDuration(`${call} timeoutMs`, o.timeoutMs, { min: 0, allowInfinity: true }),
    signal: o.signal,
  };
}

/** `timeoutMs` is undefined when not given: the queue's own default applies. */
export function normalizeCounts(options: CountsOptions | undefined): {
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
} {
  checkOptions('JobQueue.counts() options', options, ['timeoutMs', 'signal']);
  const o = options ?? {};
  checkSignal('JobQueue.counts() signal', o.signal);
  return {
    timeoutMs: o.timeoutMs === undefined ? undefined : checkMs('JobQueue.counts() timeoutMs', o.timeoutMs, 1),
    signal: o.signal,
  };
}

function checkLimit(limit: OpenQueueOptions['limit']): NormalizedOpen['limit'] {
  if (limit === undefined) return undefined;
  checkOptions('openQueue() limit', limit, ['max', 'durationMs']);
  if (limit.max === undefined || limit.durationMs === undefined) {
    throw new InvalidArgumentError(
      `openQueue() limit needs both max and durationMs; received ${limit.max === undefined ? 'no max' : 'no durationMs'}`,
    );
  }
  return {
    max: checkCount('openQueue() limit.max', limit.max),
    // BullMQ arms a platform timer with it.
    durationMs: checkMs('openQueue() limit.durationMs', limit.durationMs, 1, MAX_TIMER_MS),
  };
}

const openKeys = [
  'schema',
  'keepCompleted',
  'keepFailed',
  'lockDurationMs',
  'stalledIntervalMs',
  'maxStalledCount',
  'limit',
  'prefix',
  'connectTimeoutMs',
  'commandTimeoutMs',
  'signal',
  'tls',
];

export function normalizeOpen(options: OpenQueueOptions | undefined): NormalizedOpen {
  checkOptions('openQueue() options', options, openKeys);
  const o = options ?? {};
  checkSignal('openQueue() signal', o.signal);
  if (o.schema !== undefined) checkSchema('openQueue() schema', o.schema);
  if (o.prefix !== undefined && (typeof o.prefix !== 'string' || o.prefix === '' || o.prefix.includes(':'))) {
    throw new InvalidArgumentError(
      `openQueue() prefix must be a non-empty string without ":"; received ${describe(o.prefix)}`,
    );
  }
  const count = (name: string, value: number | undefined, fallback: number, min: number) =>
    value === undefined ? fallback : checkCount(`openQueue() ${name}`, value, { min });
  // BullMQ arms platform timers with these two (the lock is renewed every half of it).
  const timer = (name: string, value: number | undefined, fallback: number, min: number) =>
    value === undefined
      ? fallback
      : checkMs(`openQueue() ${name}`, count(name, value, fallback, min), min, MAX_TIMER_MS);
  // Keel's own waits, on setLongTimeout: any finite length works.
  const wait = (name: string, value: number | undefined, fallback: number) =>
    value === undefined ? fallback : checkMs(`openQueue() ${name}`, value, 1);
  return {
    schema: o.schema,
    keepCompleted: count('keepCompleted', o.keepCompleted, 1000, 0),
    keepFailed: count('keepFailed', o.keepFailed, 10_000, 0),
    lockDurationMs: timer('lockDurationMs', o.lockDurationMs, 10_000, 1000),
    stalledIntervalMs: timer('stalledIntervalMs', o.stalledIntervalMs, 5000, 100),
    maxStalledCount: count('maxStalledCount', o.maxStalledCount, 2, 0),
    limit: checkLimit(o.limit),
    prefix: o.prefix ?? 'keel',
    connectTimeoutMs: wait('connectTimeoutMs', o.connectTimeoutMs, 10_000),
    commandTimeoutMs: wait('commandTimeoutMs', o.commandTimeoutMs, 10_000),
    tls: resolveTls('openQueue() tls', o.tls),
  };
}

/** Runs the queue's schema on a job's data; resolves to the schema's output, or rejects with the issues. */
export async function validateData(
  schema: StandardSchemaV1 | undefined,
  queue: string,
  jobName: string,
  data: unknown,
): Promise<unknown> {
  if (schema === undefined) return data;
  const result = await schema['~standard'].validate(data);
  if (result.issues) throw new InvalidJobDataError(queue, jobName, result.issues);
  return result.value;
}

/**
 * Serializes job data as every queue carries it: JSON, with a top-level `undefined` as `null`. Checking it
 * here makes the embedded queue refuse what Redis could not store, so code moves between them unchanged.
 */
export function serializeData(jobName: string, data: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data === undefined ? null : data);
  } catch (error) {
    throw new InvalidArgumentError(
      `data of job ${describe(jobName)} must be JSON-serializable: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (json === undefined) {
    throw new InvalidArgumentError(
      `data of job ${describe(jobName)} must be JSON-serializable; received ${describe(data)}`,
    );
  }
  return json;
}

/** Throws unless a handler's result can be stored as JSON, as Redis stores it; a job whose result cannot fails. */
export function checkResult(jobName: string, result: unknown): void {
  try {
    JSON.stringify(result);
  } catch (error) {
    throw new InvalidArgumentError(
      `result of job ${describe(jobName)} must be JSON-serializable: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Throws unless `id` can name a job: a non-empty string of at most 1000 characters. */
export function checkId(call: string, id: unknown): string {
  if (typeof id !== 'string' || id === '' || id.length > 1000) {
    throw new InvalidArgumentError(
      `${call} id must be a non-empty string of at most 1000 characters; received ${describe(id)}`,
    );
  }
  return id;
}

const states: readonly JobState[] = ['waiting', 'delayed', 'active', 'completed', 'failed', 'paused'];

/** The most jobs one `jobs()` call lists. */
export const MAX_LIST = 1000;

export function normalizeJobs(options: JobsOptions | undefined): {
  state: JobState;
  limit: number;
  offset: number;
} {
  if (options === undefined) {
    throw new InvalidArgumentError(`JobQueue.jobs() options must name a state, one of ${states.join(', ')}`);
  }
  checkOptions('JobQueue.jobs() options', options, ['state', 'limit', 'offset']);
  if (!states.includes(options.state)) {
    throw new InvalidArgumentError(
      `JobQueue.jobs() state must be one of ${states.join(', ')}; received ${describe(options.state)}`,
    );
  }
  const limit = options.limit === undefined ? 100 : checkCount('JobQueue.jobs() limit', options.limit);
  if (limit > MAX_LIST) {
    throw new InvalidArgumentError(
      `JobQueue.jobs() limit must be at most ${MAX_LIST}; received ${describe(options.limit)}`,
    );
  }
  const offset =
    options.offset === undefined ? 0 : checkCount('JobQueue.jobs() offset', options.offset, { min: 0 });
  return { state: options.state, limit, offset };
}

export function normalizeResult(options: ResultOptions | undefined): {
  timeoutMs: number;
  signal: AbortSignal | undefined;
} {
  checkOptions('JobQueue.result() options', options, ['timeoutMs', 'signal']);
  const o = options ?? {};
  checkSignal('JobQueue.result() signal', o.signal);
  return {
    timeoutMs: o.timeoutMs === undefined ? 30_000 : checkMs('JobQueue.result() timeoutMs', o.timeoutMs, 0),
    signal: o.signal,
  };
}

export function normalizeAddBulkOptions(options: AddBulkOptions | undefined): AbortSignal | undefined {
  checkOptions('JobQueue.addBulk() options', options, ['signal']);
  checkSignal('JobQueue.addBulk() signal', options?.signal);
  return options?.signal;
}

export function normalizeRetryFailed(options: RetryFailedOptions | undefined): number {
  checkOptions('JobQueue.retryFailed() options', options, ['limit']);
  return options?.limit === undefined ? 1000 : checkCount('JobQueue.retryFailed() limit', options.limit);
}
