/** CircuitBreaker: stops calling an action that keeps failing, then lets one trial call test it again. */

import { reportUnhandled } from '../diagnostics.ts';
import {
  checkCount,
  checkDuration,
  checkFunction,
  checkOptions,
  checkSignal,
  describe,
  InvalidArgumentError,
} from '../errors.ts';
import { CircuitOpenError } from './resilience-errors.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /**
   * What the breaker guards, for messages and metrics (the caller and the action).
   * @default 'circuit'
   */
  readonly name?: string | undefined;
  /**
   * The share of failed calls in the window (from 0 exclusive to 1) at which the circuit opens.
   * @default 0.5
   */
  readonly failureRate?: number | undefined;
  /**
   * The fewest calls in the window before the failure rate counts: a handful of failures on a quiet
   * action do not open it.
   * @default 20
   */
  readonly minimumCalls?: number | undefined;
  /**
   * The rolling window the rate is taken over, in milliseconds (kept as 10 buckets of a tenth each).
   * @default 10000
   */
  readonly windowMs?: number | undefined;
  /**
   * How long the circuit stays open before letting one trial call through, in milliseconds.
   * @default 5000
   */
  readonly openMs?: number | undefined;
  /**
   * Whether an error counts as a failure of the action. Errors it refuses (a validation error, say) show
   * the action answered, and count as successes.
   * @default error => error.retryable === true (lost connections, timeouts, no responders, overload)
   */
  readonly isFailure?: ((error: unknown) => boolean) | undefined;
  /**
   * Called after each change of state; a throw is reported to `keel:broker.unhandled`, never to the call.
   */
  readonly onStateChange?: ((state: CircuitState, previous: CircuitState) => void) | undefined;
  /**
   * The clock, in milliseconds; tests pass their own.
   * @default performance.now
   */
  readonly now?: (() => number) | undefined;
}

export interface CircuitBreakerRunOptions {
  /** The call's signal: a failure while it is aborted says nothing about the action. */
  readonly signal?: AbortSignal | undefined;
}

/** Counts for metrics. */
export interface CircuitBreakerStats {
  readonly state: CircuitState;
  /** Calls recorded in the current window (closed state only). */
  readonly calls: number;
  /** Failures among them. */
  readonly failures: number;
  /** Times the circuit opened, since the breaker was made. */
  readonly opened: number;
  /** Calls refused fast with CircuitOpenError, since the breaker was made. */
  readonly rejected: number;
}

const OPTIONS = [
  'name',
  'failureRate',
  'minimumCalls',
  'windowMs',
  'openMs',
  'isFailure',
  'onStateChange',
  'now',
] as const;
const RUN_OPTIONS = ['signal'] as const;
const BUCKETS = 10;

const isRetryable = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;

/**
 * A breaker for one caller and action. Closed, it counts calls and failures over a rolling window; once
 * the window holds at least `minimumCalls` calls and the failure share reaches `failureRate`, it opens.
 * Open, every call fails at once with `CircuitOpenError` (retryable, with `retryAfterMs`). After `openMs`
 * it is half-open: exactly one trial call goes through and the rest still fail fast; the trial's success
 * closes the circuit (with a fresh window), its failure opens it again for another `openMs`. No timers:
 * the state moves when the breaker is next asked.
 *
 * Each call takes a permit and reports how it ended, the permit telling the breaker which state the call
 * began in, so a late answer from before a change never moves the circuit:
 *
 * ```ts
 * const permit = breaker.acquire();            // throws CircuitOpenError when open
 * try { const r = await send(); breaker.success(permit); return r; }
 * catch (error) { breaker.failure(permit, error); throw error; }
 * ```
 *
 * A call that ends with no verdict on the action (its caller aborted) calls `release(permit)`; `run()`
 * does all of this for a function.
 */
export class CircuitBreaker {
  readonly name: string;
  readonly failureRate: number;
  readonly minimumCalls: number;
  readonly windowMs: number;
  readonly openMs: number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #onStateChange: ((state: CircuitState, previous: CircuitState) => void) | undefined;
  readonly #now: () => number;
  readonly #bucketMs: number;
  // The rolling window: for each slot, the bucket number it holds and that bucket's counts.
  readonly #epochs = new Array<number>(BUCKETS).fill(Number.NEGATIVE_INFINITY);
  readonly #calls = new Array<number>(BUCKETS).fill(0);
  readonly #failures = new Array<number>(BUCKETS).fill(0);
  #state: CircuitState = 'closed';
  // Bumped on every change of state; a permit is the generation it was taken in.
  #generation = 0;
  #openUntil = 0;
  #trialOut = false;
  #opened = 0;
  #rejected = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    checkOptions('CircuitBreaker options', options, OPTIONS);
    const name = options.name ?? 'circuit';
    if (typeof name !== 'string' || name === '') {
      throw new InvalidArgumentError(
        `CircuitBreaker name must be a non-empty string; received ${describe(name)}`,
      );
    }
    this.name = name;
    const failureRate = options.failureRate ?? 0.5;
    if (typeof failureRate !== 'number' || !(failureRate > 0 && failureRate <= 1)) {
      throw new InvalidArgumentError(
        `CircuitBreaker failureRate must be a number above 0 and at most 1; received ${describe(failureRate)}`,
      );
    }
    this.failureRate = failureRate;
    this.minimumCalls = checkCount('CircuitBreaker minimumCalls', options.minimumCalls ?? 20);
    const finite = { allowInfinity: false };
    this.windowMs = checkDuration('CircuitBreaker windowMs', options.windowMs ?? 10_000, {
      min: 1,
      ...finite,
    });
    this.openMs = checkDuration('CircuitBreaker openMs', options.openMs ?? 5000, finite);
    if (options.isFailure !== undefined) checkFunction('CircuitBreaker isFailure', options.isFailure);
    if (options.onStateChange !== undefined)
      checkFunction('CircuitBreaker onStateChange', options.onStateChange);
    if (options.now !== undefined) checkFunction('CircuitBreaker now', options.now);
    this.#isFailure = options.isFailure ?? isRetryable;
    this.#onStateChange = options.onStateChange;
    this.#now = options.now ?? performance.now.bind(performance);
    this.#bucketMs = this.windowMs / BUCKETS;
  }

  /** The state now: an open circuit whose `openMs` has passed reads as half-open. */
  get state(): CircuitState {
    if (this.#state === 'open' && this.#now() >= this.#openUntil) this.#halfOpen();
    return this.#state;
  }

  /**
   * Takes a permit for one call, or throws `CircuitOpenError` when the circuit is open, or half-open with
   * its trial already out. Pass the permit to exactly one of `success`, `failure` or `release`.
   */
  acquire(): number {
    if (this.#state === 'closed') return this.#generation;
    if (this.#state === 'open') {
      const now = this.#now();
      if (now < this.#openUntil) {
        this.#rejected++;
        throw new CircuitOpenError(this.name, this.#openUntil - now);
      }
      this.#halfOpen();
    }
    if (this.#trialOut) {
      this.#rejected++;
      // The trial decides: closed at once on success, open for openMs on failure; openMs is the safe hint.
      throw new CircuitOpenError(this.name, this.openMs);
    }
    this.#trialOut = true;
    return this.#generation;
  }

  /** Reports that the call of `permit` succeeded (at `at` on the breaker's clock, when the caller read it already). */
  success(permit: number, at?: number): void {
    if (permit !== this.#generation) return;
    if (this.#state === 'closed') this.#record(false, at);
    else if (this.#state === 'half-open') this.#close();
  }

  /**
   * Reports that the call of `permit` failed with `error`; an error `isFailure` refuses counts as a
   * success (the action answered).
   */
  failure(permit: number, error: unknown, at?: number): void {
    if (permit !== this.#generation) return;
    if (!this.#isFailure(error)) {
      this.success(permit, at);
      return;
    }
    if (this.#state === 'closed') {
      this.#record(true, at);
      this.#evaluate();
    } else if (this.#state === 'half-open') this.#open();
  }

  /** Gives back the permit of a call that ended with no verdict on the action (its caller gave up). */
  release(permit: number): void {
    if (permit === this.#generation && this.#state === 'half-open') this.#trialOut = false;
  }

  /**
   * Runs `fn` through the breaker: refuses it with `CircuitOpenError` when open, records how it ended
   * otherwise. A failure while the call's `signal` is aborted is the caller's doing and gives the permit
   * back, moving nothing.
   */
  async run<T>(fn: () => T | PromiseLike<T>, options?: CircuitBreakerRunOptions): Promise<Awaited<T>> {
    checkOptions('CircuitBreaker.run() options', options, RUN_OPTIONS);
    checkFunction('CircuitBreaker.run() fn', fn);
    const signal = options?.signal;
    checkSignal('CircuitBreaker.run() signal', signal);
    const permit = this.acquire();
    let result: Awaited<T>;
    try {
      result = await fn();
    } catch (error) {
      if (signal?.aborted) this.release(permit);
      else this.failure(permit, error);
      throw error;
    }
    this.success(permit);
    return result;
  }

  /** Counts for metrics. */
  stats(): CircuitBreakerStats {
    const state = this.state;
    let calls = 0;
    let failures = 0;
    if (state === 'closed') {
      const current = Math.floor(this.#now() / this.#bucketMs);
      for (let i = 0; i < BUCKETS; i++) {
        if (current - (this.#epochs[i] as number) < BUCKETS) {
          calls += this.#calls[i] as number;
          failures += this.#failures[i] as number;
        }
      }
    }
    return { state, calls, failures, opened: this.#opened, rejected: this.#rejected };
  }

  #record(failed: boolean, at = this.#now()): void {
    const epoch = Math.floor(at / this.#bucketMs);
    const slot = epoch % BUCKETS;
    if (this.#epochs[slot] !== epoch) {
      this.#epochs[slot] = epoch;
      this.#calls[slot] = 0;
      this.#failures[slot] = 0;
    }
    (this.#calls[slot] as number)++;
    if (failed) (this.#failures[slot] as number)++;
  }

  #evaluate(): void {
    const { calls, failures } = this.stats();
    if (calls >= this.minimumCalls && failures / calls >= this.failureRate) this.#open();
  }

  #open(): void {
    this.#openUntil = this.#now() + this.openMs;
    this.#opened++;
    this.#move('open');
  }

  #halfOpen(): void {
    this.#move('half-open');
  }

  #close(): void {
    this.#epochs.fill(Number.NEGATIVE_INFINITY);
    this.#calls.fill(0);
    this.#failures.fill(0);
    this.#move('closed');
  }

  #move(state: CircuitState): void {
    const previous = this.#state;
    this.#state = state;
    this.#generation++;
    this.#trialOut = false;
    if (this.#onStateChange === undefined) return;
    try {
      this.#onStateChange(state, previous);
    } catch (error) {
      reportUnhandled('broker', `CircuitBreaker ${JSON.stringify(this.name)} onStateChange`, error);
    }
  }
}
