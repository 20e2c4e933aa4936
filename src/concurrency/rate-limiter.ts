/** RateLimiter: a token bucket that lets `limit` calls through per `interval`, in FIFO order. */

import { clearLongTimeout, type LongTimer, onAbort, setLongTimeout } from '../abort.ts';
import {
  checkCount,
  checkDuration,
  checkOptions,
  checkSignal,
  describe,
  InvalidArgumentError,
} from '../errors.ts';

export interface RateLimiterOptions {
  /** How many calls each `interval` lets through. */
  readonly limit: number;
  /** The period `limit` applies to, in milliseconds. */
  readonly interval: number;
  /**
   * How many tokens the bucket holds, which is the largest burst let through at once after a quiet spell.
   * @default limit
   */
  readonly burst?: number | undefined;
}

export interface RateLimiterAcquireOptions {
  /** Aborting it gives up the wait (no token is taken) and rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

interface Waiter {
  readonly resolve: () => void;
  unwatch: (() => void) | undefined;
}

/**
 * A token bucket: it starts full (`burst` tokens) and refills continuously at `limit` tokens per
 * `interval`; each `acquire` takes one token, waiting in FIFO order when the bucket is empty. A timer runs
 * only while someone waits.
 *
 * ```ts
 * const limiter = new RateLimiter({ limit: 10, interval: 1000 }); // 10 per second
 * await limiter.acquire({ signal });
 * ```
 */
export class RateLimiter {
  readonly #limit: number;
  readonly #interval: number;
  readonly #burst: number;
  #tokens: number;
  #refilledAt: number;
  readonly #waiters = new Set<Waiter>();
  #timer: LongTimer | undefined = undefined;

  constructor(options: RateLimiterOptions) {
    checkOptions('RateLimiter options', options, ['limit', 'interval', 'burst']);
    this.#limit = checkCount('RateLimiter limit', options?.limit);
    // Any finite interval is valid; the wait for a token may then pass 2³¹−1 ms, so it is a long timer.
    this.#interval = checkDuration('RateLimiter interval', options.interval, { allowInfinity: false });
    if (this.#interval === 0) {
      throw new InvalidArgumentError(
        `RateLimiter interval must be a number of milliseconds above 0; received ${describe(options.interval)}`,
      );
    }
    this.#burst = checkCount('RateLimiter burst', options.burst === undefined ? this.#limit : options.burst);
    this.#tokens = this.#burst;
    this.#refilledAt = performance.now();
  }

  /** The number of whole tokens in the bucket now. */
  get available(): number {
    this.#refill();
    return Math.floor(this.#tokens);
  }

  /** The number of callers waiting for a token. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Resolves once a token is taken for this caller; at once if the bucket has one and nobody waits. */
  acquire(options?: RateLimiterAcquireOptions): Promise<void> {
    checkOptions('RateLimiter.acquire() options', options, ['signal']);
    const signal = options?.signal;
    checkSignal('RateLimiter.acquire() signal', signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, unwatch: undefined };
      if (signal !== undefined) {
        waiter.unwatch = onAbort(signal, () => {
          this.#waiters.delete(waiter);
          if (this.#waiters.size === 0) this.#stopTimer();
          reject(signal.reason);
        });
      }
      this.#waiters.add(waiter);
      this.#schedule();
    });
  }

  /** Takes a token if one is there and nobody is waiting; returns whether it did. */
  tryAcquire(): boolean {
    if (this.#waiters.size > 0) return false;
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  // While callers wait, each token goes to one of them as it is earned, so `burst` caps only what
  // accumulates with nobody waiting; the cap is applied once the waiters have been served.
  #refill(): void {
    const now = performance.now();
    this.#tokens += ((now - this.#refilledAt) * this.#limit) / this.#interval;
    this.#refilledAt = now;
    if (this.#waiters.size === 0) this.#tokens = Math.min(this.#burst, this.#tokens);
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#waiters.size === 0) return;
    const wait = Math.max(1, Math.ceil(((1 - this.#tokens) * this.#interval) / this.#limit));
    this.#timer = setLongTimeout(() => {
      this.#timer = undefined;
      this.#refill();
      for (const waiter of this.#waiters) {
        if (this.#tokens < 1) break;
        this.#tokens -= 1;
        this.#waiters.delete(waiter);
        waiter.unwatch?.();
        waiter.resolve();
      }
      this.#tokens = Math.min(this.#burst, this.#tokens);
      this.#schedule();
    }, wait);
  }

  #stopTimer(): void {
    clearLongTimeout(this.#timer);
    this.#timer = undefined;
  }
}
