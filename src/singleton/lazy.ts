/** lazy(): once-only initialisation of a possibly asynchronous resource, shared by every caller. */
import { raceAbort } from '../abort.ts';
import { checkFunction, checkOptions, checkSignal } from '../errors.ts';

export interface Lazy<T> {
  /**
   * The resource: the first call runs `init`, concurrent and later calls share its result. A failed
   * `init` is forgotten, so the next call tries again. `signal` stops this caller's wait, not the shared
   * initialisation.
   */
  get(options?: { readonly signal?: AbortSignal | undefined }): Promise<T>;
  /** Forgets the value (or the initialisation in flight), so the next `get()` runs `init` again. */
  reset(): void;
  /** Whether a value is held (initialisation finished and was not reset). */
  readonly initialized: boolean;
  /** The value if initialised, otherwise undefined; never starts `init`. */
  peek(): T | undefined;
}

/**
 * Wraps `init` so that it runs at most once at a time and its success is remembered.
 *
 * ```ts
 * const pool = lazy(() => createPool(config));
 * const [a, b] = await Promise.all([pool.get(), pool.get()]); // one pool, created once
 * ```
 */
export function lazy<T>(init: () => T | PromiseLike<T>): Lazy<T> {
  checkFunction('lazy() init', init);
  let pending: Promise<T> | undefined;
  let value: T | undefined;
  let initialized = false;
  // Bumped by reset(), so an initialisation that finishes after a reset does not resurrect its value.
  let generation = 0;

  const start = (): Promise<T> => {
    const mine = generation;
    const run = (async () => init())();
    pending = run.then(
      (result) => {
        if (generation === mine) {
          value = result;
          initialized = true;
          pending = undefined;
        }
        return result;
      },
      (error: unknown) => {
        if (generation === mine) pending = undefined;
        throw error;
      },
    );
    return pending;
  };

  return {
    get(options = {}) {
      checkOptions('lazy().get() options', options, ['signal']);
      const { signal } = options;
      checkSignal('lazy().get() signal', signal);
      if (initialized) return Promise.resolve(value as T);
      if (signal?.aborted) return Promise.reject(signal.reason);
      return raceAbort(pending ?? start(), signal);
    },
    reset() {
      generation++;
      pending = undefined;
      value = undefined;
      initialized = false;
    },
    get initialized() {
      return initialized;
    },
    peek() {
      return value;
    },
  };
}
