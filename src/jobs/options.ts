/** Checks and normalizes the options of the job queue contract once, for every implementation. */
import { checkCount, checkOptions, checkSignal, describe, InvalidArgumentError } from '../errors.ts';
import { checkSchema, type StandardSchemaV1 } from '../standard-schema.ts';
import { InvalidJobDataError } from './errors.ts';
import type { AddOptions, Backoff, CloseOptions, OpenQueueOptions, ProcessOptions } from './types.ts';

/** The highest priority number a job may have (the lowest precedence), as in BullMQ. */
export const MAX_PRIORITY = 2 ** 21;

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
  readonly prefix: string;
  readonly connectTimeoutMs: number;
}

function checkKeys(name: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(
        `${name} has an unknown option ${describe(key)}; known options: ${known.join(', ')}`,
      );
    }
  }
}

/** Throws unless `name` is a usable queue name: a non-empty string without `:`. */
export function checkQueueName(name: unknown): string {
  if (typeof name !== 'string' || name === '' || name.includes(':')) {
    throw new InvalidArgumentError(
      `queue name must be a non-empty string without ":"; received ${describe(name)}`,
    );
  }
  return name;
}

export function checkJobName(name: unknown): string {
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError(`job name must be a non-empty string; received ${describe(name)}`);
  }
  return name;
}

const addKeys = ['attempts', 'backoff', 'delay', 'priority', 'jobId', 'signal'];

function checkBackoff(value: Backoff | undefined): NormalizedAdd['backoff'] {
  if (value === undefined) return undefined;
  if (typeof value === 'number')
    return { type: 'fixed', delayMs: checkCount('add backoff', value, { min: 0 }) };
  if (
    typeof value !== 'object' ||
    value === null ||
    (value.type !== 'fixed' && value.type !== 'exponential')
  ) {
    throw new InvalidArgumentError(
      `add backoff must be a delay in ms or { type: 'fixed' | 'exponential', delayMs }; received ${describe(value)}` +
        (typeof value === 'object' && value !== null
          ? ` with type ${describe((value as { type?: unknown }).type)}`
          : ''),
    );
  }
  return { type: value.type, delayMs: checkCount('add backoff.delayMs', value.delayMs, { min: 0 }) };
}

export function normalizeAdd(options: AddOptions | undefined): NormalizedAdd {
  checkOptions('add options', options);
  const o = options ?? {};
  checkKeys('add options', o, addKeys);
  checkSignal('add signal', o.signal);
  const jobId = o.jobId;
  if (jobId !== undefined) {
    if (typeof jobId !== 'string' || jobId === '' || jobId.includes(':') || /^-?\d+$/.test(jobId)) {
      throw new InvalidArgumentError(
        `add jobId must be a non-empty string that is not an integer and has no ":"; received ${describe(jobId)}`,
      );
    }
  }
  const priority = o.priority;
  if (
    priority !== undefined &&
    !(typeof priority === 'number' && Number.isInteger(priority) && priority >= 1 && priority <= MAX_PRIORITY)
  ) {
    throw new InvalidArgumentError(
      `add priority must be an integer from 1 to ${MAX_PRIORITY}; received ${describe(priority)}`,
    );
  }
  return {
    attempts: o.attempts === undefined ? 1 : checkCount('add attempts', o.attempts),
    backoff: checkBackoff(o.backoff),
    delay: o.delay === undefined ? 0 : checkCount('add delay', o.delay, { min: 0 }),
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
    throw new InvalidArgumentError(`process handler must be a function; received ${describe(handler)}`);
  }
  checkOptions('process options', options);
  const o = options ?? {};
  checkKeys('process options', o, ['concurrency', 'signal']);
  checkSignal('process signal', o.signal);
  return {
    concurrency: o.concurrency === undefined ? 1 : checkCount('process concurrency', o.concurrency),
    signal: o.signal,
  };
}

export function normalizeClose(options: CloseOptions | undefined): {
  timeoutMs: number;
  signal: AbortSignal | undefined;
} {
  checkOptions('close options', options);
  const o = options ?? {};
  checkKeys('close options', o, ['timeoutMs', 'signal']);
  checkSignal('close signal', o.signal);
  return {
    timeoutMs:
      o.timeoutMs === undefined
        ? 30_000
        : checkCount('close timeoutMs', o.timeoutMs, { min: 0, allowInfinity: true }),
    signal: o.signal,
  };
}

const openKeys = [
  'schema',
  'keepCompleted',
  'keepFailed',
  'lockDurationMs',
  'stalledIntervalMs',
  'maxStalledCount',
  'prefix',
  'connectTimeoutMs',
  'signal',
];

export function normalizeOpen(options: OpenQueueOptions | undefined): NormalizedOpen {
  checkOptions('openQueue options', options);
  const o = options ?? {};
  checkKeys('openQueue options', o, openKeys);
  checkSignal('openQueue signal', o.signal);
  if (o.schema !== undefined) checkSchema('openQueue schema', o.schema);
  if (o.prefix !== undefined && (typeof o.prefix !== 'string' || o.prefix === '' || o.prefix.includes(':'))) {
    throw new InvalidArgumentError(
      `openQueue prefix must be a non-empty string without ":"; received ${describe(o.prefix)}`,
    );
  }
  const opt = (name: string, value: number | undefined, fallback: number, min: number) =>
    value === undefined ? fallback : checkCount(`openQueue ${name}`, value, { min });
  const lockDurationMs = opt('lockDurationMs', o.lockDurationMs, 10_000, 1000);
  return {
    schema: o.schema,
    keepCompleted: opt('keepCompleted', o.keepCompleted, 1000, 0),
    keepFailed: opt('keepFailed', o.keepFailed, 10_000, 0),
    lockDurationMs,
    stalledIntervalMs: opt('stalledIntervalMs', o.stalledIntervalMs, 5000, 100),
    maxStalledCount: opt('maxStalledCount', o.maxStalledCount, 2, 0),
    prefix: o.prefix ?? 'keel',
    connectTimeoutMs: opt('connectTimeoutMs', o.connectTimeoutMs, 10_000, 1),
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
