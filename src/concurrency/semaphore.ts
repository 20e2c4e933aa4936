/** Semaphore: a counted lock; `acquire` waits in FIFO order for one of `permits` permits. */

import { onAbort } from '../abort.ts';
import { checkCount, checkOptions, checkSignal } from '../errors.ts';

/** One acquired permit: release it once (further calls do nothing), or let `using` do it. */
export interface Permit extends Disposable {
  release(): void;
}

export interface AcquireOptions {
  /** Aborting it gives up the wait (no permit is taken) and rejects with its reason. */
  readonly signal?: AbortSignal | undefined;
}

interface Waiter {
  readonly resolve: (permit: Permit) => void;
  unwatch: (() => void) | undefined;
}

/**
 * Hands out at most `permits` permits at a time. A released permit goes straight to the longest waiter,
 * so a steady stream of `tryAcquire` calls cannot starve those waiting.
 *
 * ```ts
 * const connections = new Semaphore(4);
 * using permit = await connections.acquire({ signal });
 * ```
 */
export class Semaphore {
  readonly #permits: number;
  #available: number;
  // A Set keeps insertion order and removes an aborted waiter in O(1).
  readonly #waiters = new Set<Waiter>();

  constructor(permits: number) {
    this.#permits = checkCount('Semaphore permits', permits);
    this.#available = this.#permits;
  }

  /** The number of permits in all. */
  get permits(): number {
    return this.#permits;
  }

  /** The number of permits free now. */
  get available(): number {
    return this.#available;
  }

  /** The number of callers waiting for a permit. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Resolves with a permit once one is free and every earlier caller has had theirs. */
  acquire(options?: AcquireOptions): Promise<Permit> {
    checkOptions('Semaphore.acquire() options', options, ['signal']);
    const signal = options?.signal;
    checkSignal('Semaphore.acquire() signal', signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const permit = this.tryAcquire();
    if (permit !== undefined) return Promise.resolve(permit);
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = { resolve, unwatch: undefined };
      if (signal !== undefined) {
        waiter.unwatch = onAbort(signal, () => {
          this.#waiters.delete(waiter);
          reject(signal.reason);
        });
      }
      this.#waiters.add(waiter);
    });
  }

  /** A permit if one is free now and nobody is waiting; otherwise undefined. */
  tryAcquire(): Permit | undefined {
    if (this.#available === 0 || this.#waiters.size > 0) return undefined;
    this.#available--;
    return this.#permit();
  }

  #permit(): Permit {
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.#release();
    };
    return { release, [Symbol.dispose]: release };
  }

  #release(): void {
    const next = this.#waiters.values().next();
    if (next.done) {
      this.#available++;
      return;
    }
    const waiter = next.value;
    this.#waiters.delete(waiter);
    waiter.unwatch?.();
    waiter.resolve(this.#permit());
  }
}
