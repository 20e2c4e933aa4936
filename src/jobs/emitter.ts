/** A small typed listener list for job events; a listener that throws never reaches the job or its peers. */
import { reportUnhandled } from '../diagnostics.ts';
import { checkFunction, describe, InvalidArgumentError } from '../errors.ts';

/** Every event a queue or a worker emits: the keys of `JobEvents` (types.ts imports this file's types). */
const JOB_EVENTS: readonly string[] = ['completed', 'failed', 'progress', 'error'];

/** Refuses an event name nothing emits: a listener for it would never be called. */
export function checkJobEvent(label: string, event: unknown): void {
  if (typeof event !== 'string' || !JOB_EVENTS.includes(event)) {
    throw new InvalidArgumentError(
      `${label} event: unknown event ${describe(event)}; known events: ${JOB_EVENTS.join(', ')}`,
    );
  }
}

export type Listener<T> = (payload: T) => void;

/** Removes the listener it came from; calling it twice is harmless. Also `Disposable`, for `using`. */
export type Unsubscribe = (() => void) & Disposable;

interface WithError {
  error: { readonly error: unknown };
}

/**
 * Listeners per event name. A listener that throws is reported as an `error` event; an `error` event
 * nobody listens to goes to the last-resort sink (`reportUnhandled`, channel `keel:jobs.unhandled`), so a
 * failure is never silent and never crashes a worker.
 */
export class Emitter<Events extends WithError> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();
  /** Whose events these are, for the last-resort report: `queue "emails"`. */
  readonly #owner: string;

  constructor(owner: string) {
    this.#owner = owner;
  }

  on<E extends keyof Events>(event: E, listener: Listener<Events[E]>): Unsubscribe {
    checkFunction(`listener for ${String(event)}`, listener);
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    // Wrap so the same function added twice is two subscriptions, each removed by its own unsubscribe.
    const entry: Listener<never> = (payload) => listener(payload);
    set.add(entry);
    const off = () => {
      set.delete(entry);
    };
    return Object.assign(off, { [Symbol.dispose]: off });
  }

  /** Whether anyone listens to `event`; lets callers skip building a payload nobody reads. */
  has(event: keyof Events): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    const set = this.#listeners.get(event);
    if (set === undefined || set.size === 0) {
      if (event === 'error') {
        reportUnhandled(
          'jobs',
          `${this.#owner}: error with no 'error' listener`,
          (payload as WithError['error']).error,
        );
      }
      return;
    }
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[E]>)(payload);
      } catch (error) {
        if (event === 'error') reportUnhandled('jobs', `${this.#owner}: an 'error' listener threw`, error);
        else this.emit('error', { error } as Events['error']);
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}
