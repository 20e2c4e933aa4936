/** Subject and Observer: the classic Observer pattern, safe against throwing, async and re-entrant observers. */
import { reportUnhandled } from '../diagnostics.ts';
import { checkOptions, describe, InvalidArgumentError } from '../errors.ts';
import { callErrorHandler, isThenable, Round, type RoundOwner, settledRound } from './error-policy.ts';
import { reportIfUnobserved } from './outcome.ts';
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
  readonly #attachments = new Map<Observer<T>, object>();
  readonly #onError: ((error: unknown, observer: Observer<T>) => void) | undefined;
  /** With an onError handler every failure goes to it (isolate); without, they are collected. */
  readonly #owner: RoundOwner<Observer<T>>;

  constructor(options: SubjectOptions<T> = {}) {
    checkOptions('Subject options', options, ['onError']);
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new InvalidArgumentError(
        `Subject onError must be a function; received ${describe(options.onError)}`,
      );
    }
    const onError = options.onError;
    this.#onError = onError;
    this.#owner = {
      // A collecting round waits for every observer, so only an isolating one reports.
      report: (error, round, index) => {
        if (onError === undefined) reportUnhandled('events', 'Subject observer failed', error);
        else callErrorHandler(onError, error, round.targets[index] as Observer<T>, 'Subject');
      },
      label: () => 'observers',
    };
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
    // Attaching again has no effect, so its handle has nothing to undo.
    if (this.#observers.includes(observer)) return subscription(() => {});
    this.#observers = [...this.#observers, observer];
    // The handle ends this attachment only, not one made after a detach and a new attach.
    const mark = {};
    this.#attachments.set(observer, mark);
    return subscription(() => {
      if (this.#attachments.get(observer) === mark) this.detach(observer);
    });
  }

  /** Detaches an observer; detaching one that is not attached is not an error. */
  detach(observer: Observer<T>): void {
    if (!this.#attachments.delete(observer)) return;
    this.#observers = this.#observers.filter((o) => o !== observer);
  }

  /**
   * Calls `update(message)` on every observer, in attach order, now. The promise resolves when every
   * asynchronous update has settled. Failures go to `onError` if given; otherwise the promise rejects with
   * an AggregateError of all of them, in attach order (and if nobody reads that promise, the error goes
   * to the last-resort sink, `keel:events.unhandled` and stderr, rather than being lost).
   */
  notify(message: T): Promise<void> {
    const observers = this.#observers;
    const onError = this.#onError;
    let round: Round<Observer<T>> | undefined;
    for (let i = 0; i < observers.length; i++) {
      try {
        const result = (observers[i] as Observer<T>).update(message);
        if (isThenable(result)) (round ??= this.#round(observers)).watch(i, result);
      } catch (error) {
        (round ??= this.#round(observers)).fail(i, error);
      }
    }
    if (round === undefined) return settledRound();
    const outcome = round.finishAsync();
    return onError === undefined
      ? reportIfUnobserved(outcome, (error) =>
          reportUnhandled('events', 'Subject.notify() failures nobody awaited', error),
        )
      : outcome;
  }

  #round(observers: readonly Observer<T>[]): Round<Observer<T>> {
    return new Round(this.#onError === undefined ? 'collect' : 'isolate', observers, '', this.#owner);
  }
}
