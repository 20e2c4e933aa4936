/** Bulkhead: a per-action limit on calls served at once, so one busy action cannot starve the others. */

import { settleWithin } from '../abort.ts';
import { Pool, PoolClosedError, PoolCloseTimeoutError, PoolFullError } from '../concurrency/pool.ts';
import {
  checkCount,
  checkDuration,
  checkFunction,
  checkOptions,
  checkSignal,
  describe,
  InvalidArgumentError,
} from '../errors.ts';
import { BulkheadClosedError, BulkheadCloseTimeoutError, BulkheadFullError } from './resilience-errors.ts';

export interface BulkheadOptions {
  /**
   * What the bulkhead guards, for messages and metrics (the action).
   * @default 'bulkhead'
   */
  readonly name?: string | undefined;
  /** The most calls served at once. */
  readonly concurrency: number;
  /**
   * The most calls waiting for a slot; past it a call is refused with `BulkheadFullError`.
   * @default 1000
   */
  readonly maxQueued?: number | undefined;
}

export interface BulkheadRunOptions {
  /**
   * The call's signal: aborting it removes a queued call (it never runs) or aborts the signal the running
   * handler received; `run` rejects with its reason at once.
   */
  readonly signal?: AbortSignal | undefined;
}

export interface BulkheadCloseOptions {
  /**
   * How long calls running or queued may take to finish, in milliseconds; then the queued ones are refused
   * with `BulkheadClosedError` and the running ones aborted.
   * @default 10000
   */
  readonly timeoutMs?: number | undefined;
  /**
   * How long aborted calls have to settle after the deadline, in milliseconds; past it `close` rejects
   * with `BulkheadCloseTimeoutError`.
   * @default 1000
   */
  readonly graceMs?: number | undefined;
  /** Aborting it ends the wait at once: calls still queued or running are refused or aborted, and `close` rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

/** Counts for metrics. */
export interface BulkheadStats {
  /** Calls running now. */
  readonly running: number;
  /** Calls waiting for a slot now. */
  readonly queued: number;
  /** Calls refused with BulkheadFullError, since the bulkhead was made. */
  readonly rejected: number;
}

const OPTIONS = ['name', 'concurrency', 'maxQueued'] as const;
const RUN_OPTIONS = ['signal'] as const;
const CLOSE_OPTIONS = ['timeoutMs', 'graceMs', 'signal'] as const;

/**
 * The serving side's limit for one action, over a `Pool`: at most `concurrency` calls run, at most
 * `maxQueued` wait in FIFO order, and a call past that is refused at once with `BulkheadFullError`
 * (retryable: the caller may try another instance) rather than queued without bound.
 *
 * ```ts
 * const bulkhead = new Bulkhead({ name: 'shapes.create', concurrency: 10, maxQueued: 100 });
 * const result = await bulkhead.run((signal) => handler(params, { signal }), { signal: callSignal });
 * await bulkhead.close({ timeoutMs: 5000 });   // drain, then abort what is left
 * ```
 */
export class Bulkhead {
  readonly name: string;
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly #pool: Pool;
  #closing = false;
  #rejected = 0;

  constructor(options: BulkheadOptions) {
    checkOptions('Bulkhead options', options, OPTIONS);
    if (options === undefined) {
      throw new InvalidArgumentError('Bulkhead options must be an options object; received undefined');
    }
    const name = options.name ?? 'bulkhead';
    if (typeof name !== 'string' || name === '') {
      throw new InvalidArgumentError(`Bulkhead name must be a non-empty string; received ${describe(name)}`);
    }
    this.name = name;
    this.concurrency = checkCount('Bulkhead concurrency', options.concurrency, { allowInfinity: true });
    this.maxQueued = checkCount('Bulkhead maxQueued', options.maxQueued ?? 1000, {
      min: 0,
      allowInfinity: true,
    });
    this.#pool = new Pool({ concurrency: this.concurrency, maxQueued: this.maxQueued });
  }

  /** Whether `close` was called. */
  get closed(): boolean {
    return this.#closing;
  }

  /**
   * Runs `fn` when a slot is free, passing it a signal that aborts when the call's `signal` does or when
   * the bulkhead's close deadline passes; settles like `fn`. Rejects with `BulkheadFullError` when every
   * slot is busy and the queue full, with `BulkheadClosedError` once the bulkhead is closing.
   */
  run<T>(fn: (signal: AbortSignal) => T | PromiseLike<T>, options?: BulkheadRunOptions): Promise<Awaited<T>> {
    if (options !== undefined) checkOptions('Bulkhead.run() options', options, RUN_OPTIONS);
    checkFunction('Bulkhead.run() fn', fn);
    checkSignal('Bulkhead.run() signal', options?.signal);
    if (this.#closing) return Promise.reject(new BulkheadClosedError(this.name));
    const pool = this.#pool;
    if (pool.pending >= this.concurrency && pool.size >= this.maxQueued) {
      this.#rejected++;
      return Promise.reject(new BulkheadFullError(this.name, this.concurrency, this.maxQueued));
    }
    return (
      pool.run(fn as (signal: AbortSignal) => Promise<Awaited<T>>, options) as Promise<Awaited<T>>
    ).then(undefined, this.#translate);
  }

  /** The pool's errors in the bulkhead's words. */
  readonly #translate = (error: unknown): never => {
    if (error instanceof PoolClosedError) throw new BulkheadClosedError(this.name);
    if (error instanceof PoolFullError) {
      this.#rejected++;
      throw new BulkheadFullError(this.name, this.concurrency, this.maxQueued);
    }
    throw error;
  };

  /**
   * Refuses new calls and lets the running and queued ones finish for up to `timeoutMs`; then refuses the
   * queued ones, aborts the running ones (their signal's reason is a `PoolClosedError`) and gives them
   * `graceMs` to settle before rejecting with `BulkheadCloseTimeoutError`. Calling it again waits again.
   */
  async close(options?: BulkheadCloseOptions): Promise<void> {
    checkOptions('Bulkhead.close() options', options, CLOSE_OPTIONS);
    const timeoutMs = checkDuration('Bulkhead.close() timeoutMs', options?.timeoutMs ?? 10_000);
    const graceMs = checkDuration('Bulkhead.close() graceMs', options?.graceMs ?? 1000, {
      allowInfinity: false,
    });
    const signal = options?.signal;
    checkSignal('Bulkhead.close() signal', signal);
    this.#closing = true;
    const pool = this.#pool;
    if (!pool.closed && !signal?.aborted) {
      // Our own idle wait, withdrawn once the deadline or the caller's abort comes first.
      const stop = new AbortController();
      const idle = pool.onIdle({ signal: stop.signal });
      idle.catch(() => {});
      await settleWithin(idle, timeoutMs, signal);
      stop.abort();
    }
    try {
      await pool.close({ timeoutMs: signal?.aborted ? 0 : graceMs, signal });
    } catch (error) {
      if (error instanceof PoolCloseTimeoutError)
        throw new BulkheadCloseTimeoutError(this.name, pool.pending);
      throw error;
    }
    if (signal?.aborted) throw signal.reason;
  }

  /** Counts for metrics. */
  stats(): BulkheadStats {
    return { running: this.#pool.pending, queued: this.#pool.size, rejected: this.#rejected };
  }
}
