/** RetryPolicy: which failed calls the broker tries again, and how long it waits (exponential backoff, full jitter). */

import { sleep } from '../concurrency/sleep.ts';
import {
  checkCount,
  checkDuration,
  checkFunction,
  checkOptions,
  checkSignal,
  describe,
  InvalidArgumentError,
} from '../errors.ts';
import { RetryBudget } from './retry-budget.ts';

export interface RetryPolicyOptions {
  /**
   * The most retries after the first try (0: never retry).
   * @default 2
   */
  readonly retries?: number | undefined;
  /**
   * The ceiling of the first backoff, in milliseconds; each later ceiling is `factor` times larger.
   * @default 50
   */
  readonly minDelayMs?: number | undefined;
  /**
   * The largest backoff ceiling, in milliseconds.
   * @default 2000
   */
  readonly maxDelayMs?: number | undefined;
  /**
   * How much each backoff ceiling grows over the one before (1 keeps it constant).
   * @default 2
   */
  readonly factor?: number | undefined;
  /**
   * Whether a failure may succeed if tried again. Never consulted for an error with `retryable: false`,
   * which always ends the call.
   * @default error => error.retryable === true (Keel's transient errors: lost connections, timeouts, an open circuit)
   */
  readonly retryIf?: ((error: unknown, attempt: number) => boolean) | undefined;
  /**
   * A number in [0, 1) for the jitter; tests pass a seeded one.
   * @default Math.random
   */
  readonly random?: (() => number) | undefined;
}

export interface RetryRunOptions {
  /**
   * Whether the call is safe to repeat: the action is declared idempotent, or the caller gave an
   * idempotency key. A call that is not is never retried, whatever failed.
   */
  readonly idempotent: boolean;
  /** The target's budget: one call recorded before the first try, one token spent per retry. */
  readonly budget?: RetryBudget | undefined;
  /**
   * The milliseconds left in the call's deadline, asked before each retry: a retry whose wait would use up
   * what is left is not made, and the last failure is thrown instead.
   */
  readonly remainingMs?: (() => number) | undefined;
  /** Aborting it stops the wait between tries and rejects with its reason; no try starts after it. */
  readonly signal?: AbortSignal | undefined;
}

/** Counts for metrics, since the policy was made. */
export interface RetryPolicyStats {
  /** Retries made. */
  readonly retries: number;
  /** Retries the budget refused. */
  readonly throttled: number;
  /** Calls that failed retryably after their last allowed try. */
  readonly exhausted: number;
  /** Retryable failures not retried because the call was not safe to repeat. */
  readonly unsafe: number;
  /** Retryable failures not retried because the deadline left no time for the wait. */
  readonly outOfTime: number;
}

const OPTIONS = ['retries', 'minDelayMs', 'maxDelayMs', 'factor', 'retryIf', 'random'] as const;
const RUN_OPTIONS = ['idempotent', 'budget', 'remainingMs', 'signal'] as const;

const retryableFlag = (error: unknown): unknown =>
  typeof error === 'object' && error !== null ? (error as { retryable?: unknown }).retryable : undefined;
const isRetryable = (error: unknown): boolean => retryableFlag(error) === true;

/** The wait an error asks for (CircuitOpenError's `retryAfterMs`), or 0. */
const retryAfter = (error: unknown): number => {
  const ms =
    typeof error === 'object' && error !== null ? (error as { retryAfterMs?: unknown }).retryAfterMs : 0;
  return typeof ms === 'number' && ms > 0 && Number.isFinite(ms) ? ms : 0;
};

/**
 * Decides whether and when a failed call is tried again. A retry needs all of: a failure `retryIf` accepts
 * (by default, errors with `retryable: true`), a call that is safe to repeat, a try left, a token from the
 * target's budget, and time before the deadline for the wait. The wait is full jitter: a random time
 * between 0 and `min(maxDelayMs, minDelayMs × factor^(retry − 1))`, and never less than an error's own
 * `retryAfterMs`.
 *
 * ```ts
 * const policy = new RetryPolicy({ retries: 3 });
 * const reply = await policy.run((attempt) => send(params), { idempotent, budget, remainingMs, signal });
 * ```
 */
export class RetryPolicy {
  readonly retries: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
  readonly #retryIf: (error: unknown, attempt: number) => boolean;
  readonly #random: () => number;
  #retried = 0;
  #throttled = 0;
  #exhausted = 0;
  #unsafe = 0;
  #outOfTime = 0;

  constructor(options: RetryPolicyOptions = {}) {
    checkOptions('RetryPolicy options', options, OPTIONS);
    this.retries = checkCount('RetryPolicy retries', options.retries ?? 2, { min: 0 });
    const finite = { allowInfinity: false };
    this.minDelayMs = checkDuration('RetryPolicy minDelayMs', options.minDelayMs ?? 50, finite);
    this.maxDelayMs = checkDuration('RetryPolicy maxDelayMs', options.maxDelayMs ?? 2000, finite);
    if (this.maxDelayMs < this.minDelayMs) {
      throw new InvalidArgumentError(
        `RetryPolicy maxDelayMs must be at least minDelayMs (${this.minDelayMs}); received ${describe(this.maxDelayMs)}`,
      );
    }
    const factor = options.factor ?? 2;
    if (typeof factor !== 'number' || !(factor >= 1 && factor < Number.POSITIVE_INFINITY)) {
      throw new InvalidArgumentError(
        `RetryPolicy factor must be a finite number ≥ 1; received ${describe(factor)}`,
      );
    }
    this.factor = factor;
    if (options.retryIf !== undefined) checkFunction('RetryPolicy retryIf', options.retryIf);
    if (options.random !== undefined) checkFunction('RetryPolicy random', options.random);
    this.#retryIf = options.retryIf ?? isRetryable;
    this.#random = options.random ?? Math.random;
  }

  /** The largest wait before retry number `retry` (from 1), before jitter. */
  ceiling(retry: number): number {
    if (this.minDelayMs === 0) return 0;
    // Cap the growth before multiplying: factor ** n overflows to Infinity for large n.
    const growth = Math.min(this.factor ** (retry - 1), this.maxDelayMs / this.minDelayMs);
    return Math.min(this.maxDelayMs, this.minDelayMs * growth);
  }

  /** The wait before retry number `retry` (from 1) after `error`: full jitter under the ceiling, at least the error's `retryAfterMs`. */
  delay(retry: number, error?: unknown): number {
    const jittered = this.#random() * this.ceiling(retry);
    return Math.max(jittered, retryAfter(error));
  }

  /**
   * Whether a call that failed with `error` on try number `attempt` (from 1) may be retried, the budget
   * aside: a try left, a failure `retryIf` accepts, and a call safe to repeat.
   */
  shouldRetry(error: unknown, attempt: number, idempotent: boolean): boolean {
    if (attempt > this.retries) return false;
    if (retryableFlag(error) === false || !this.#retryIf(error, attempt)) return false;
    return idempotent;
  }

  /**
   * Calls `fn` (with the try's number, from 1) and retries it as the policy allows, settling with its
   * result or its last failure.
   */
  async run<T>(fn: (attempt: number) => T | PromiseLike<T>, options: RetryRunOptions): Promise<Awaited<T>> {
    checkOptions('RetryPolicy.run() options', options, RUN_OPTIONS);
    checkFunction('RetryPolicy.run() fn', fn);
    if (typeof options?.idempotent !== 'boolean') {
      throw new InvalidArgumentError(
        `RetryPolicy.run() idempotent must be a boolean; received ${describe(options?.idempotent)}`,
      );
    }
    const { budget, remainingMs, signal } = options;
    if (budget !== undefined && !(budget instanceof RetryBudget)) {
      throw new InvalidArgumentError(
        `RetryPolicy.run() budget must be a RetryBudget; received ${describe(budget)}`,
      );
    }
    if (remainingMs !== undefined) checkFunction('RetryPolicy.run() remainingMs', remainingMs);
    checkSignal('RetryPolicy.run() signal', signal);
    if (signal?.aborted) throw signal.reason;
    budget?.recordCall();
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (error) {
        await this.#pause(error, attempt, options);
      }
    }
  }

  /**
   * @internal Carries on a call whose first try (made outside `run`, its call already recorded in the
   * budget) failed with `error`: waits and tries again from try 2 as `run` would, or rethrows `error`.
   */
  async resume<T>(
    error: unknown,
    fn: (attempt: number) => T | PromiseLike<T>,
    options: RetryRunOptions,
  ): Promise<Awaited<T>> {
    await this.#pause(error, 1, options);
    for (let attempt = 2; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (failure) {
        await this.#pause(failure, attempt, options);
      }
    }
  }

  /** After try `attempt` failed with `error`: waits for the next try, or throws when there is none. */
  async #pause(error: unknown, attempt: number, options: RetryRunOptions): Promise<void> {
    const { idempotent, budget, remainingMs, signal } = options;
    if (signal?.aborted) throw signal.reason;
    const wait = this.#next(error, attempt, idempotent, budget, remainingMs);
    if (wait === undefined) throw error;
    this.#retried++;
    if (wait > 0) await sleep(wait, { signal });
    else if (signal?.aborted) throw signal.reason;
  }

  /** The wait before the next try, or undefined when there is none; counts why not. */
  #next(
    error: unknown,
    attempt: number,
    idempotent: boolean,
    budget: RetryBudget | undefined,
    remainingMs: (() => number) | undefined,
  ): number | undefined {
    // An error that says it is final ends the call whatever `retryIf` would say.
    if (retryableFlag(error) === false || !this.#retryIf(error, attempt)) return undefined;
    if (!idempotent) {
      this.#unsafe++;
      return undefined;
    }
    if (attempt > this.retries) {
      this.#exhausted++;
      return undefined;
    }
    const wait = this.delay(attempt, error);
    // Check the deadline before the budget, so a retry that cannot happen spends no token.
    if (remainingMs !== undefined && wait >= remainingMs()) {
      this.#outOfTime++;
      return undefined;
    }
    if (budget !== undefined && !budget.tryRetry()) {
      this.#throttled++;
      return undefined;
    }
    return wait;
  }

  /** Counts for metrics. */
  stats(): RetryPolicyStats {
    return {
      retries: this.#retried,
      throttled: this.#throttled,
      exhausted: this.#exhausted,
      unsafe: this.#unsafe,
      outOfTime: this.#outOfTime,
    };
  }
}
