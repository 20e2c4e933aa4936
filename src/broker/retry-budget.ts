/** RetryBudget: a token bucket per target that caps retries to a fraction of calls, as gRPC retry throttling does. */

import { checkCount, checkOptions, describe, InvalidArgumentError } from '../errors.ts';

export interface RetryBudgetOptions {
  /**
   * The bucket's capacity, in tokens (an integer from 1 to 1000). It starts full; a retry is allowed only
   * while more than half of it is left, so at most `maxTokens / 2` retries go out in a burst.
   * @default 10
   */
  readonly maxTokens?: number | undefined;
  /**
   * The fraction of a token each call adds (from 0.001 to 1, counted in thousandths); each retry spends a
   * whole token, so over many calls retries stay below this fraction of them.
   * @default 0.1
   */
  readonly tokenRatio?: number | undefined;
}

/** Counts for metrics, since the budget was made. */
export interface RetryBudgetStats {
  /** Tokens left now (with three decimals). */
  readonly tokens: number;
  readonly maxTokens: number;
  /** Calls recorded (first tries). */
  readonly calls: number;
  /** Retries the budget allowed. */
  readonly retries: number;
  /** Retries the budget refused. */
  readonly throttled: number;
}

const OPTIONS = ['maxTokens', 'tokenRatio'] as const;
// Tokens are counted in thousandths, as integers, so a long run of 0.1 deposits never drifts.
const MILLI = 1000;

/**
 * Keeps retries to one target from multiplying an outage. Every call deposits `tokenRatio` of a token (up
 * to `maxTokens`); every retry withdraws one, and is allowed only while the bucket holds more than half its
 * capacity. Over any run of N calls, retries number at most `tokenRatio × N + maxTokens / 2`: a failing
 * target sees its load grow by about 10%, not threefold. Keep one budget per target (service and action).
 *
 * ```ts
 * const budget = new RetryBudget();
 * budget.recordCall();                       // before the first try
 * if (failedRetryably && budget.tryRetry())  // before each retry
 *   …
 * ```
 */
export class RetryBudget {
  readonly maxTokens: number;
  readonly tokenRatio: number;
  readonly #capacity: number;
  readonly #deposit: number;
  #tokens: number;
  #calls = 0;
  #retries = 0;
  #throttled = 0;

  constructor(options: RetryBudgetOptions = {}) {
    checkOptions('RetryBudget options', options, OPTIONS);
    const maxTokens = checkCount('RetryBudget maxTokens', options.maxTokens ?? 10);
    if (maxTokens > 1000) {
      throw new InvalidArgumentError(
        `RetryBudget maxTokens must be an integer from 1 to 1000; received ${describe(maxTokens)}`,
      );
    }
    const tokenRatio = options.tokenRatio ?? 0.1;
    if (typeof tokenRatio !== 'number' || !(tokenRatio >= 0.001 && tokenRatio <= 1)) {
      throw new InvalidArgumentError(
        `RetryBudget tokenRatio must be a number from 0.001 to 1; received ${describe(tokenRatio)}`,
      );
    }
    this.maxTokens = maxTokens;
    this.tokenRatio = tokenRatio;
    this.#capacity = maxTokens * MILLI;
    this.#deposit = Math.round(tokenRatio * MILLI);
    this.#tokens = this.#capacity;
  }

  /** Records a call's first try: deposits `tokenRatio` of a token. */
  recordCall(): void {
    this.#calls++;
    this.#tokens = Math.min(this.#capacity, this.#tokens + this.#deposit);
  }

  /**
   * Asks to retry: when more than half the capacity is left, withdraws a token and returns true; otherwise
   * returns false and the caller gives up with the failure it has.
   */
  tryRetry(): boolean {
    if (this.#tokens * 2 <= this.#capacity) {
      this.#throttled++;
      return false;
    }
    this.#tokens -= MILLI;
    this.#retries++;
    return true;
  }

  /** Whether a retry would be allowed now (spends nothing). */
  get canRetry(): boolean {
    return this.#tokens * 2 > this.#capacity;
  }

  /** Counts for metrics. */
  stats(): RetryBudgetStats {
    return {
      tokens: this.#tokens / MILLI,
      maxTokens: this.maxTokens,
      calls: this.#calls,
      retries: this.#retries,
      throttled: this.#throttled,
    };
  }
}
