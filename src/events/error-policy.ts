/**
 * The error policy shared by Subject and EventBus: how the failures of one delivery round (a listener
 * that throws, or whose promise rejects) reach someone, whether the round is synchronous or awaited.
 */
import { onAbort } from '../abort.ts';
import { reportUnhandled } from '../diagnostics.ts';
import { describe, InvalidArgumentError } from '../errors.ts';

/**
 * - `isolate`: every failure goes to the error handler as it happens; the other listeners still run.
 * - `collect`: every listener runs; then one AggregateError holds every failure, in listener order.
 * - `fail-fast`: the first failure stops the round and is thrown (or rejected) as it is.
 */
export type ErrorPolicy = 'isolate' | 'collect' | 'fail-fast';

const policies: readonly ErrorPolicy[] = ['isolate', 'collect', 'fail-fast'];

/** Throws InvalidArgumentError unless `value` names an error policy. */
export function checkErrorPolicy(name: string, value: unknown): ErrorPolicy {
  if (!policies.includes(value as ErrorPolicy)) {
    throw new InvalidArgumentError(
      `${name} must be one of ${policies.map((p) => `'${p}'`).join(', ')}; received ${describe(value)}`,
    );
  }
  return value as ErrorPolicy;
}

/**
 * Calls a user's error handler; if the handler itself throws, both failures go to the last-resort sink
 * rather than stopping the round or vanishing.
 */
export function callErrorHandler<C>(
  handler: (error: unknown, context: C) => void,
  error: unknown,
  context: C,
  owner: string,
): void {
  try {
    handler(error, context);
  } catch (handlerError) {
    reportUnhandled(
      'events',
      `${owner} onError threw`,
      new AggregateError([handlerError, error], `${owner} onError threw while handling a failure`),
    );
  }
}

/** Whether a listener's return value is something to wait for. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

const resolved: Promise<void> = Promise.resolve();

/** Ends a round made only of sync listeners that all succeeded, as the awaited form returns it. */
export function settledRound(): Promise<void> {
  return resolved;
}

/**
 * Who a round belongs to: receives the failures the round cannot surface itself and names the listeners
 * for the AggregateError message. One per Subject or EventBus, shared by all their rounds.
 */
export interface RoundOwner<T> {
  /** A failure of `round.targets[index]` that arrived when the round could no longer carry it. */
  report(error: unknown, round: Round<T>, index: number): void;
  /** What the listeners are, for the AggregateError message: `observers`, `listeners of "a.b"`. */
  label(round: Round<T>): string;
}

/**
 * The state of one delivery round, created only once a listener fails or returns a promise, so a round of
 * well-behaved synchronous listeners allocates nothing. The caller calls its listeners in order, hands
 * each throw to `fail` and each returned promise to `watch`, then ends the round with `finish` (the
 * synchronous form: throws) or `finishAsync` (the awaited form: rejects).
 *
 * Failures that arrive after the round's outcome is decided (a promise rejecting after a synchronous
 * `emit` returned, or after a fail-fast round already rejected) go to the owner's `report`: never lost,
 * never an unhandled rejection.
 *
 * Plain fields and no subclassing, on purpose: one of these is made per awaited emit, and private names
 * and a derived constructor each cost measurably there.
 */
export class Round<T> {
  readonly policy: ErrorPolicy;
  /** The listeners of the round, in call order. */
  readonly targets: readonly T[];
  /** What the round delivered (a topic), for the owner's messages. */
  readonly topic: string;
  private readonly owner: RoundOwner<T>;
  /** Failures still join the outcome while the round is open. */
  private open = true;
  private calling = true;
  private pending = 0;
  private failures: [number, unknown][] | undefined = undefined;
  private stopped = false;
  private firstError: unknown = undefined;
  private resolve: (() => void) | undefined = undefined;
  private reject: ((error: unknown) => void) | undefined = undefined;
  // While every watched promise fulfils, two handlers shared by the whole round count them down: no
  // allocation per listener. The first rejection switches the round to handlers that know their
  // listener's index (needed to report it and to order failures), attached to every watched promise.
  private watched: Promise<unknown>[] | undefined = undefined;
  private precise = false;
  /** Stops watching the caller's signal of an awaited round (shared abort listener). */
  private unwatch: (() => void) | undefined = undefined;
  private readonly fulfilled: () => void;
  private readonly rejected: () => void;

  constructor(policy: ErrorPolicy, targets: readonly T[], topic: string, owner: RoundOwner<T>) {
    this.policy = policy;
    this.targets = targets;
    this.topic = topic;
    this.owner = owner;
    this.fulfilled = () => {
      if (!this.precise && --this.pending === 0 && !this.calling) this.conclude();
    };
    this.rejected = () => {
      if (!this.precise) this.switchToPrecise();
    };
  }

  /** Records that listener `index` failed. Returns true when the caller must call no further listener. */
  fail(index: number, error: unknown): boolean {
    if (!this.open || this.policy === 'isolate') {
      this.owner.report(error, this, index);
      return false;
    }
    if (this.policy === 'collect') {
      (this.failures ??= []).push([index, error]);
      return false;
    }
    this.open = false;
    this.stopped = true;
    this.firstError = error;
    // An awaited round that is already waiting rejects at once, without waiting for the others.
    this.unwatch?.();
    this.reject?.(error);
    return true;
  }

  /** Waits for the promise listener `index` returned; a rejection counts as its failure. */
  watch(index: number, value: PromiseLike<unknown>): void {
    // A native promise is watched directly; any other thenable is first adopted by one.
    const promise = value instanceof Promise ? value : Promise.resolve(value);
    (this.watched ??= new Array(this.targets.length))[index] = promise;
    this.pending++;
    promise.then(this.fulfilled, this.rejected);
  }

  private switchToPrecise(): void {
    this.precise = true;
    const watched = this.watched as Promise<unknown>[];
    this.pending = 0;
    const settled = (): void => {
      if (--this.pending === 0 && !this.calling) this.conclude();
    };
    for (let index = 0; index < watched.length; index++) {
      const promise = watched[index];
      if (promise === undefined) continue;
      this.pending++;
      promise.then(settled, (error: unknown) => {
        this.fail(index, error);
        settled();
      });
    }
  }

  /**
   * Ends a synchronous round: from now on failures go to `report`. Throws the fail-fast error, or the
   * AggregateError of the failures collected so far.
   */
  finish(): void {
    this.calling = false;
    this.open = false;
    if (this.stopped) throw this.firstError;
    const error = this.aggregate();
    if (error !== undefined) throw error;
  }

  /**
   * Ends an awaited round: the promise settles once every watched promise has settled (or at the first
   * failure under fail-fast). Aborting `signal` rejects it with the signal's reason at once; the
   * failures collected so far, and any that arrive later, then go to `report`.
   */
  finishAsync(signal?: AbortSignal): Promise<void> {
    this.calling = false;
    if (this.stopped) return Promise.reject(this.firstError);
    if (this.pending === 0) {
      this.open = false;
      const error = this.aggregate();
      return error === undefined ? resolved : Promise.reject(error);
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.resolve = resolve;
    this.reject = reject;
    if (signal?.aborted) this.abandon(signal);
    else if (signal !== undefined) this.unwatch = onAbort(signal, () => this.abandon(signal));
    return promise;
  }

  private abandon(signal: AbortSignal): void {
    if (!this.open) return;
    this.open = false;
    const failures = this.failures;
    this.failures = undefined;
    if (failures !== undefined) for (const [index, error] of failures) this.owner.report(error, this, index);
    this.reject?.(signal.reason);
  }

  private conclude(): void {
    if (!this.open) return;
    this.open = false;
    this.unwatch?.();
    const error = this.aggregate();
    if (error === undefined) this.resolve?.();
    else this.reject?.(error);
  }

  private aggregate(): AggregateError | undefined {
    const failures = this.failures;
    if (failures === undefined) return undefined;
    this.failures = undefined;
    const errors = failures.sort((x, y) => x[0] - y[0]).map(([, error]) => error);
    return new AggregateError(
      errors,
      `${errors.length} of ${this.targets.length} ${this.owner.label(this)} failed`,
    );
  }
}
