/** Subject and Observer: the classic Observer pattern, safe against throwing, async and re-entrant observers. */
import { describe, InvalidArgumentError } from '../errors.ts';
import { reportIfUnobserved, reportToStderr } from './outcome.ts';
import { type Subscription, subscription } from './subscription.ts';

/** Anything with an `update` method; an `update` may return a promise, which `notify` waits for. */
export interface Observer<T> {
  update(message: T): void | PromiseLike<unknown>;
}

export interface SubjectOptions<T> {
  /**
   * Receives each observer failure (a throw or a rejected promise) as it happens. Without it, `notify`'s
   * promise rejects with one AggregateError holding every failure of that round.
   */
  readonly onError?: ((error: unknown, observer: Observer<T>) => void) | undefined;
}

const resolved = Promise.resolve();

/**
 * Keeps a list of observers and notifies them in attach order.
 *
 * Rules: `notify` calls every observer synchronously; observers attached or detached during a round take
 * effect from the next round, so nobody is skipped or called twice; a failing observer never stops the
 * others. The returned promise settles once every asynchronous `update` has settled.
 */
export class Subject<T> {
  // Replaced, never mutated, on attach/detach: a round in progress keeps iterating its own snapshot.
  #observers: readonly Observer<T>[] = [];
  readonly #onError: ((error: unknown, observer: Observer<T>) => void) | undefined;

  constructor(options: SubjectOptions<T> = {}) {
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new InvalidArgumentError(
        `Subject onError must be a function; received ${describe(options.onError)}`,
      );
    }
    this.#onError = options.onError;
  }

  /** The number of attached observers. */
  get size(): number {
    return this.#observers.length;
  }

  /**
   * Attaches an observer; attaching one already attached has no effect. Returns a handle that detaches
   * it (also `Disposable`).
   */
  attach(observer: Observer<T>): Subscription {
    if (typeof observer?.update !== 'function') {
      throw new InvalidArgumentError(
        `Observer must have an update(message) method; received ${describe(observer)}`,
      );
    }
    if (!this.#observers.includes(observer)) this.#observers = [...this.#observers, observer];
    return subscription(() => this.detach(observer));
  }

  /** Detaches an observer; detaching one that is not attached is not an error. */
  detach(observer: Observer<T>): void {
    if (this.#observers.includes(observer)) this.#observers = this.#observers.filter((o) => o !== observer);
  }

  /**
   * Calls `update(message)` on every observer, in attach order, now. The promise resolves when every
   * asynchronous update has settled. Failures go to `onError` if given; otherwise the promise rejects with
   * an AggregateError of all of them, in attach order (and if nobody reads that promise, the error is
   * written to stderr rather than lost).
   */
  notify(message: T): Promise<void> {
    const observers = this.#observers;
    const onError = this.#onError;
    let failures: Map<number, unknown> | undefined;
    let waiting: Promise<void>[] | undefined;
    const fail = (index: number, error: unknown): void => {
      const observer = observers[index] as Observer<T>;
      if (onError === undefined) (failures ??= new Map()).set(index, error);
      else this.#deliver(onError, error, observer);
    };
    for (let i = 0; i < observers.length; i++) {
      try {
        const result = (observers[i] as Observer<T>).update(message);
        if (result != null && typeof (result as PromiseLike<unknown>).then === 'function') {
          (waiting ??= []).push(
            Promise.resolve(result).then(
              () => {},
              (error: unknown) => fail(i, error),
            ),
          );
        }
      } catch (error) {
        fail(i, error);
      }
    }
    if (waiting === undefined && failures === undefined) return resolved;
    const settled = waiting === undefined ? resolved : Promise.all(waiting);
    const outcome = settled.then(() => {
      if (failures === undefined) return;
      const errors = [...failures.entries()].sort((x, y) => x[0] - y[0]).map(([, e]) => e);
      throw new AggregateError(errors, `${errors.length} of ${observers.length} observers failed`);
    });
    return onError === undefined
      ? reportIfUnobserved(outcome, (error) =>
          reportToStderr(error, 'Subject.notify failures nobody awaited'),
        )
      : outcome;
  }

  #deliver(
    onError: (error: unknown, observer: Observer<T>) => void,
    error: unknown,
    observer: Observer<T>,
  ): void {
    try {
      onError(error, observer);
    } catch (handlerError) {
      // The handler itself failed: do not let it stop the round; make both failures visible.
      reportToStderr(new AggregateError([handlerError, error], 'Subject onError threw'), 'Subject');
    }
  }
}
