/** The errors the job queues throw, each with a stable code listed in docs/errors.md. */
import { describe, KeelError, type KeelErrorOptions } from '../errors.ts';
import { DriverMissingError } from '../load-driver.ts';
import { formatIssues, type StandardIssue } from '../standard-schema.ts';

/** A job's data failed the queue's schema; the job was not added. */
export class InvalidJobDataError extends KeelError {
  readonly queue: string;
  readonly jobName: string;
  readonly issues: ReadonlyArray<StandardIssue>;

  constructor(queue: string, jobName: string, issues: ReadonlyArray<StandardIssue>, at?: string) {
    super(
      'KEEL_JOB_INVALID_DATA',
      `${at === undefined ? '' : `${at}: `}Job ${describe(jobName)} was not added to queue ${describe(queue)}: its data fails the queue's schema: ${formatIssues(issues)}`,
    );
    this.queue = queue;
    this.jobName = jobName;
    this.issues = issues;
  }

  /** The same refusal, naming where it was found (`JobQueue.addBulk() jobs[3]`). */
  at(where: string): InvalidJobDataError {
    return new InvalidJobDataError(this.queue, this.jobName, this.issues, where);
  }
}

/** `add` or `process` was called on a queue (or worker) that is closing or closed. */
export class QueueClosedError extends KeelError {
  constructor(queue: string, operation: string) {
    super('KEEL_JOB_QUEUE_CLOSED', `Cannot ${operation}: queue ${describe(queue)} is closed`);
  }
}

/** The reason a handler's signal carries when its worker's close deadline passed. */
export class JobAbortedError extends KeelError {
  constructor(queue: string, jobId: string) {
    super(
      'KEEL_JOB_ABORTED',
      `Job ${describe(jobId)} of queue ${describe(queue)} was aborted: its worker is closing and the deadline passed; the job will run again`,
      { retryable: true },
    );
  }
}

/** The queue's server could not be reached or answered with an error; trying again may succeed. */
export class QueueConnectionError extends KeelError {
  constructor(message: string, options: KeelErrorOptions = {}) {
    super('KEEL_JOB_QUEUE_CONNECTION', message, { retryable: true, ...options });
  }
}

/** Redis may evict keys under memory pressure, which would silently lose jobs; the queue refuses to start. */
export class EvictionPolicyError extends KeelError {
  readonly policy: string;

  constructor(where: string, policy: string) {
    super(
      'KEEL_JOB_EVICTION_POLICY',
      `Redis at ${where} has maxmemory-policy ${describe(policy)}, so it may evict queue keys under memory ` +
        'pressure and lose jobs; a job queue needs "noeviction". Set `maxmemory-policy noeviction` in ' +
        'redis.conf (or run `CONFIG SET maxmemory-policy noeviction`)',
    );
    this.policy = policy;
  }
}

/** Redis refused the URL's credentials (WRONGPASS, NOAUTH); trying again with the same ones cannot help. */
export class QueueAuthenticationError extends KeelError {
  constructor(where: string, cause: unknown) {
    super(
      'KEEL_JOB_QUEUE_AUTH',
      `Redis at ${where} refused authentication: ${cause instanceof Error ? cause.message : String(cause)}; ` +
        'check the user name and password in the queue URL (redis://user:password@host:port)',
      { cause },
    );
  }
}

/** An optional driver package (bullmq, ioredis) is not installed. */
export class QueueDriverMissingError extends DriverMissingError {
  constructor(scheme: string, packages: readonly string[], cause: unknown) {
    super(
      'KEEL_JOB_DRIVER_MISSING',
      `Queues at ${scheme}:// URLs need the packages ${packages.join(' and ')}; install them: npm install ${packages.join(' ')}`,
      packages,
      cause,
    );
  }
}

/**
 * The TLS handshake with Redis failed: its certificate does not verify or does not name the host, it
 * refused the client certificate, or it does not speak TLS. Trying again with the same settings cannot help.
 */
export class QueueTlsError extends KeelError {
  constructor(where: string, detail: string, cause: unknown) {
    super('KEEL_JOB_QUEUE_TLS', `TLS with Redis at ${where} failed ${detail}`, { cause });
  }
}
/** A cron schedule needs the optional package cron-parser, which is not installed. */
export class CronParserMissingError extends DriverMissingError {
  constructor(cause: unknown) {
    super(
      'KEEL_JOB_CRON_PARSER_MISSING',
      'Cron schedules need the package cron-parser (a dependency of bullmq, optional for memory:// queues); ' +
        'install it: npm install cron-parser',
      ['cron-parser'],
      cause,
    );
  }
}

/** How a job's failure is kept: its message, and its code when the error had a string one. */
export interface JobFailure {
  readonly code?: string;
  readonly message: string;
}

/** The failure of a job, as `result()` reports it in any process: the cause's code and message. */
export class JobFailedError extends KeelError {
  readonly queue: string;
  readonly jobId: string;
  /** The code of the error the handler threw (KEEL_JOB_CANCELLED when cancelled), when it had one. */
  readonly causeCode: string | undefined;

  constructor(queue: string, jobId: string, failure: JobFailure) {
    super(
      'KEEL_JOB_FAILED',
      `Job ${describe(jobId)} of queue ${describe(queue)} failed: ${failure.message}`,
      {
        cause: failure,
      },
    );
    this.queue = queue;
    this.jobId = jobId;
    this.causeCode = failure.code;
  }
}

/** The queue holds no job with this id (never added, removed, or forgotten beyond `keepCompleted`). */
export class JobNotFoundError extends KeelError {
  constructor(queue: string, jobId: string) {
    super('KEEL_JOB_NOT_FOUND', `Queue ${describe(queue)} holds no job ${describe(jobId)}`);
  }
}

/** `result()` waited its `timeoutMs` and the job had not finished; it may still finish later. */
export class JobWaitTimeoutError extends KeelError {
  /** `cause`: the last error met while waiting (Redis slow or down), if any. */
  constructor(queue: string, jobId: string, timeoutMs: number, cause?: unknown) {
    const last = cause instanceof Error ? `; the last read failed: ${cause.message}` : '';
    super(
      'KEEL_JOB_WAIT_TIMEOUT',
      `Job ${describe(jobId)} of queue ${describe(queue)} did not finish within ${timeoutMs} ms${last}`,
      { retryable: true, cause },
    );
  }
}

/** `remove()` met a job that is running; `cancel()` stops it instead. */
export class JobActiveError extends KeelError {
  constructor(queue: string, jobId: string) {
    super(
      'KEEL_JOB_ACTIVE',
      `Cannot remove job ${describe(jobId)} of queue ${describe(queue)}: it is running; use cancel() to stop it`,
    );
  }
}

/** The reason a cancelled job's handler signal carries; the job fails with this code, and is not retried. */
export class JobCancelledError extends KeelError {
  constructor(queue: string, jobId: string) {
    super('KEEL_JOB_CANCELLED', `Job ${describe(jobId)} of queue ${describe(queue)} was cancelled`);
  }
}

/** The failure a thrown value leaves on its job: its message, and its code when it is a string. */
export function failureOf(error: unknown): JobFailure {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' ? { code, message } : { message };
}
