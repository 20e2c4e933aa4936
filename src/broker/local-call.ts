/**
 * LocalCall: a call served in this process on its fast path — one object that is the handler's context,
 * the caller's pending promise and an entry in the broker's deadline heap, with no wire, no timer
 * of its own and no promise turn beyond the handler's.
 */
import { onAbort } from '../abort.ts';
import type { StandardResult, StandardSchemaV1 } from '../standard-schema.ts';
import type { DeadlineHeap, Timed } from '../transport/deadline-heap.ts';
import { noHeaders } from '../transport/headers.ts';
import type { MessageHeaders } from '../transport/index.ts';
import { DeadlineExceededError, ValidationError } from './broker-errors.ts';
import type { Bulkhead } from './bulkhead.ts';
import { type CallOptions, type ResolvedCall, tellServed } from './call-options.ts';
import type { CircuitBreaker } from './circuit-breaker.ts';
import type { AnyContract, CompiledAction } from './contract.ts';
import type { BrokerCore, ParentCall } from './core.ts';
import type { ActionMeter } from './metrics.ts';
import type { RetryBudget } from './retry-budget.ts';
import type { ServedAction } from './service.ts';
import type { Client, ServiceContext } from './service-context.ts';
import { type TraceLink, traceIdOf } from './tracing.ts';
import { serveChecked } from './validate.ts';
import { fromWireError, toWireError } from './wire-errors.ts';

/** What the invoker works out once per action, for every call of it. */
export interface Route {
  readonly action: CompiledAction;
  /** This broker's handler of the action, when it serves it (and calls in this process prefer it). */
  readonly served: ServedAction | undefined;
  /** Whether a local call may take the fast path as far as the action goes (no cap or scope). */
  readonly plain: boolean;
  /** The action's bulkhead on this broker, when it has one. */
  readonly bulkhead: Bulkhead | undefined;
  readonly callMeter: ActionMeter;
  readonly serveMeter: ActionMeter | undefined;
  readonly breaker: CircuitBreaker | undefined;
  readonly budget: RetryBudget | undefined;
}

/** The invoker's side of a local call. */
export interface LocalHost {
  readonly core: BrokerCore;
  /** The broker's pending local calls by deadline: one timer for all of them. */
  readonly deadlines: DeadlineHeap<LocalCall>;
  /** A handler started (counted until it ends, so the broker's stop can wait for it). */
  handlerStarted(): void;
  handlerEnded(): void;
  /**
   * Tries the call again after its first try failed with `error` (retryable, and safe to repeat), as the
   * retry policy allows; settles with the last try's outcome. Undefined when no retry may be made.
   */
  retry(call: LocalCall, error: Error): Promise<unknown> | undefined;
}

export class LocalCall implements ServiceContext, ParentCall, Timed {
  readonly nodeId: string;
  readonly action: string;
  readonly callerNodeId: string;
  readonly depth: number;
  readonly meta: MessageHeaders;
  readonly idempotencyKey: string | undefined;
  readonly trace: TraceLink | undefined;
  readonly scope = undefined;
  /** When this try's time is up (`performance.now()` clock): the call's deadline, or its `attemptTimeoutMs`. */
  readonly due: number;
  /** When the whole call's time is up (retries included). */
  readonly callExpires: number;
  /** The budget the call started with, in ms (for its DeadlineExceededError). */
  readonly budgetMs: number;
  /** This try's budget, in ms: less than `budgetMs` when the caller gave `attemptTimeoutMs`. */
  readonly tryMs: number;
  readonly route: Route;
  readonly options: ResolvedCall;
  readonly parent: ParentCall | undefined;
  /** The params as the caller gave them (a retry sends them again). */
  params: unknown;
  /** Its place in the deadline heap; -1 while out of it. */
  slot = -1;
  readonly #host: LocalHost;
  /** The caller's meter, unless call middleware wrap the call (then the invoker counts the whole of it). */
  readonly #meter: ActionMeter | undefined;
  readonly #started: number;
  #permit = 0;
  #resolve: ((value: unknown) => void) | undefined;
  #reject: ((reason: unknown) => void) | undefined;
  #controller: AbortController | undefined;
  /** Why the call ended early (caller abort, deadline, broker stop), for a signal first read after it. */
  #abortReason: unknown;
  #unwatchCaller: (() => void) | undefined;
  #unwatchParent: (() => void) | undefined;
  #deadline: number | undefined;
  /** The caller has its answer. */
  #answered = false;
  /** The handler (or the params' validation before it) has ended. */
  #served = false;

  constructor(
    host: LocalHost,
    route: Route,
    options: ResolvedCall,
    parent: ParentCall | undefined,
    depth: number,
    meta: MessageHeaders | undefined,
    trace: TraceLink | undefined,
    started: number,
    budgetMs: number,
    metered: boolean,
  ) {
    const nodeId = host.core.nodeId;
    this.#host = host;
    this.route = route;
    this.options = options;
    this.parent = parent;
    this.nodeId = nodeId;
    this.action = route.action.key;
    this.callerNodeId = nodeId;
    this.depth = depth;
    this.meta = meta ?? noHeaders;
    this.idempotencyKey = options.idempotencyKey;
    this.trace = trace;
    this.#meter = metered ? route.callMeter : undefined;
    this.#started = started;
    this.budgetMs = budgetMs;
    this.tryMs = Math.min(budgetMs, options.attemptTimeoutMs ?? budgetMs);
    this.due = started + this.tryMs;
    this.callExpires = started + budgetMs;
  }

  /** When the call's budget runs out, in `Date.now()` milliseconds (worked out on first read). */
  get deadline(): number {
    // Whole milliseconds, never past the budget, as a deadline read from Date.now() at the start would be.
    this.#deadline ??= Math.floor(Date.now() + (this.due - performance.now()));
    return this.#deadline;
  }

  get traceId(): string | undefined {
    return this.trace === undefined ? undefined : traceIdOf(this.trace);
  }

  /** Aborts when the caller aborts or gives up, at the deadline, or when the broker stops past its grace. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  remainingMs(): number {
    return this.due - performance.now();
  }

  /** The milliseconds left of the whole call (its retries' budget). */
  callRemainingMs(): number {
    return this.callExpires - performance.now();
  }

  call(action: string, params?: unknown, options?: CallOptions): Promise<unknown> {
    return this.#host.core.callByName(action, params, options, this);
  }

  client<C extends AnyContract>(contract: C): Client<C> {
    return this.#host.core.nestedClient(contract, this);
  }

  emit(event: string, payload?: unknown): Promise<void> {
    return this.#host.core.publishEvent(event, payload, false, this);
  }

  broadcast(event: string, payload?: unknown): Promise<void> {
    return this.#host.core.publishEvent(event, payload, true, this);
  }

  /** Starts the call: validates the params, runs the handler, validates its result; settles like a remote call. */
  run(params: unknown): Promise<unknown> {
    this.params = params;
    const promise = new Promise<unknown>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const { breaker, budget } = this.route;
    if (this.#meter !== undefined) this.#meter.inFlight++;
    if (breaker !== undefined) {
      try {
        this.#permit = breaker.acquire();
      } catch (error) {
        // An open circuit refuses the call before anything runs; nothing was served.
        this.#served = true;
        this.#answered = true;
        this.#meter?.failed(this.#started, error);
        (this.#reject as (reason: unknown) => void)(error);
        return promise;
      }
    }
    const stop = this.#host.core.stopSignal;
    const caller = this.options.signal;
    const parent = this.parent?.signal;
    const gone = stop.aborted ? stop : caller?.aborted ? caller : parent?.aborted ? parent : undefined;
    if (gone !== undefined) {
      this.#served = true;
      this.#abandon(gone.reason);
      return promise;
    }
    // Only a call that starts is recorded: one its caller gave up on beforehand deposits no retry token.
    budget?.recordCall();
    this.#host.deadlines.add(this);
    if (caller !== undefined) this.#unwatchCaller = onAbort(caller, () => this.#abandon(caller.reason));
    if (parent !== undefined) this.#unwatchParent = onAbort(parent, () => this.#abandon(parent.reason));
    this.#host.handlerStarted();
    (this.route.serveMeter as ActionMeter).inFlight++;
    const { bulkhead } = this.route;
    if (bulkhead !== undefined) {
      // The action's bulkhead holds the whole served call, its checks included, as on the general path.
      bulkhead
        .run(() => {
          // A call whose caller gave up while it waited for a slot leaves without running.
          if (this.#answered) throw this.#abortReason;
          return this.#inSlot(params);
        })
        .then(
          (value) => this.#succeeded(value),
          (error: unknown) => this.#failed(error),
        );
      return promise;
    }
    let outcome: StandardResult<unknown> | Promise<StandardResult<unknown>>;
    try {
      outcome = this.route.action.spec.params['~standard'].validate(params);
    } catch (error) {
      this.#failed(error);
      return promise;
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (checked) => this.#validated(checked),
        (error: unknown) => this.#failed(error),
      );
    } else this.#validated(outcome);
    return promise;
  }

  /** The broker stops past its grace, or the caller gave up: the caller is answered with `reason` now. */
  abandon(reason: unknown): void {
    this.#abandon(reason);
  }

  /** The try's time is up (the deadline heap calls this): the call ends, or a retry gets the time left. */
  expire(now: number): void {
    if (this.#answered) return;
    const early = this.tryMs < this.budgetMs;
    const error = new DeadlineExceededError(this.action, early ? this.tryMs : this.budgetMs);
    this.#answered = true;
    this.#unwatch();
    this.#abortWith(error);
    // A try abandoned at its own deadline leaves the rest of the call's budget to a retry.
    const again = early ? this.#host.retry(this, error) : undefined;
    if (again !== undefined) {
      this.settleRetried(again);
      return;
    }
    this.#meter?.failed(this.#started, error, now);
    this.route.breaker?.failure(this.#permit, error, now);
    (this.#reject as (reason: unknown) => void)(error);
  }

  /** Ends the caller's side with the outcome of the tries made after the first (see LocalHost.retry). */
  settleRetried(outcome: Promise<unknown>): void {
    outcome.then(
      (value) => {
        const ended = performance.now();
        this.#meter?.succeeded(this.#started, ended);
        this.route.breaker?.success(this.#permit, ended);
        (this.#resolve as (value: unknown) => void)(value);
      },
      (error: unknown) => {
        const ended = performance.now();
        this.#meter?.failed(this.#started, error, ended);
        this.#verdict(error, ended);
        (this.#reject as (reason: unknown) => void)(error);
      },
    );
  }

  #validated(outcome: StandardResult<unknown>): void {
    if (outcome.issues !== undefined) {
      this.#failed(new ValidationError(this.action, 'params', outcome.issues, this.nodeId));
      return;
    }
    // The caller gave up while an asynchronous schema checked the params: the handler never starts.
    if (this.#answered) {
      this.#serveEnded(performance.now(), this.#abortReason);
      return;
    }
    let result: unknown;
    try {
      result = this.route.served?.handler(outcome.value, this);
      // A thenable's `then` (or a getter of it) may throw: that fails the call, as awaiting it would.
      if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') {
        (result as PromiseLike<unknown>).then(
          (value) => this.#returned(value),
          (error: unknown) => this.#failed(error),
        );
        return;
      }
    } catch (error) {
      this.#failed(error);
      return;
    }
    this.#returned(result);
  }

  #returned(result: unknown): void {
    let outcome: StandardResult<unknown> | Promise<StandardResult<unknown>>;
    try {
      outcome = (this.route.action.spec.result as StandardSchemaV1)['~standard'].validate(result);
    } catch (error) {
      this.#failed(error);
      return;
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (checked) => this.#checked(checked),
        (error: unknown) => this.#failed(error),
      );
    } else this.#checked(outcome);
  }

  /** The served call inside a bulkhead slot: params checked, the handler, its result checked. */
  #inSlot(params: unknown): unknown {
    const { spec } = this.route.action;
    const { handler } = this.route.served as ServedAction;
    return serveChecked(spec, handler, params, this, this.action, this.nodeId);
  }

  #checked(outcome: StandardResult<unknown>): void {
    if (outcome.issues !== undefined) {
      this.#failed(new ValidationError(this.action, 'result', outcome.issues, this.nodeId));
      return;
    }
    this.#succeeded(outcome.value);
  }

  #succeeded(value: unknown): void {
    const ended = performance.now();
    this.#serveEnded(ended, undefined);
    if (this.#answered) return;
    this.#answered = true;
    this.#unwatch();
    this.#host.deadlines.remove(this);
    this.#meter?.succeeded(this.#started, ended);
    this.route.breaker?.success(this.#permit, ended);
    tellServed(this.options, this.nodeId);
    (this.#resolve as (value: unknown) => void)(value);
  }

  /** The handler, or a schema, failed. */
  #failed(error: unknown): void {
    const ended = performance.now();
    this.#serveEnded(ended, error ?? new Error('undefined was thrown'));
    if (this.#answered) return;
    this.#answered = true;
    this.#unwatch();
    this.#host.deadlines.remove(this);
    // The same error a remote caller would get: what crosses the wire, and nothing more.
    const served = this.route.served as ServedAction;
    const wire = fromWireError(this.action, toWireError(error, this.nodeId, served.exposeStack));
    const again = wire.retryable ? this.#host.retry(this, wire) : undefined;
    if (again !== undefined) {
      this.settleRetried(again);
      return;
    }
    this.#meter?.failed(this.#started, wire, ended);
    this.#verdict(wire, ended);
    (this.#reject as (reason: unknown) => void)(wire);
  }

  #abandon(reason: unknown): void {
    if (this.#answered) return;
    this.#answered = true;
    this.#unwatch();
    this.#host.deadlines.remove(this);
    this.#abortWith(reason);
    this.#meter?.failed(this.#started, reason);
    // No verdict on the action: the caller gave up, or the broker is stopping.
    this.route.breaker?.release(this.#permit);
    (this.#reject as (reason: unknown) => void)(reason);
  }

  /** The breaker's verdict on a failed call; none when the caller gave up meanwhile. */
  #verdict(error: unknown, ended: number): void {
    const breaker = this.route.breaker;
    if (breaker === undefined) return;
    if (this.options.signal?.aborted || this.parent?.signal.aborted || this.#host.core.stopSignal.aborted)
      breaker.release(this.#permit);
    else breaker.failure(this.#permit, error, ended);
  }

  #serveEnded(ended: number, error: unknown): void {
    if (this.#served) return;
    this.#served = true;
    const meter = this.route.serveMeter as ActionMeter;
    if (error === undefined) meter.succeeded(this.#started, ended);
    else meter.failed(this.#started, error, ended);
    this.#host.handlerEnded();
  }

  #abortWith(reason: unknown): void {
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }

  #unwatch(): void {
    if (this.#unwatchCaller !== undefined) {
      this.#unwatchCaller();
      this.#unwatchCaller = undefined;
    }
    if (this.#unwatchParent !== undefined) {
      this.#unwatchParent();
      this.#unwatchParent = undefined;
    }
  }
}
