/** Invoker: the calling side — deadlines, depth, retries, middleware, and the local short-circuit or the wire. */
import { tracingChannel } from 'node:diagnostics_channel';
import { clearLongTimeout, onAbort, setLongTimeout } from '../abort.ts';
import { DeadlineHeap } from '../transport/deadline-heap.ts';
import { noHeaders } from '../transport/headers.ts';
import {
  type MessageHeaders,
  NoRespondersError,
  RemoteHandlerError,
  TransportConnectionError,
  TransportTimeoutError,
} from '../transport/index.ts';
import {
  BrokerProtocolError,
  BrokerStoppedError,
  CallDepthError,
  DeadlineExceededError,
  RemoteError,
} from './broker-errors.ts';
import { type ResolvedCall, tellServed } from './call-options.ts';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.ts';
import type { CompiledAction } from './contract.ts';
import type { BrokerCore, ParentCall } from './core.ts';
import { LocalCall, type LocalHost, type Route } from './local-call.ts';
import type { ActionMeter } from './metrics.ts';
import { type CallMiddleware, type CallRequest, runLayers } from './middleware.ts';
import { RetryBudget, type RetryBudgetOptions } from './retry-budget.ts';
import { RetryPolicy } from './retry-policy.ts';
import type { Server } from './server.ts';
import { type TraceLink, withTrace } from './tracing.ts';
import { decodeReply, encodeCall } from './wire.ts';
import { fromWireError, toWireError } from './wire-errors.ts';

/** Retry counts up to this get a cached policy. */
const MAX_CACHED_RETRIES = 10;

/** Publishes `{ action, nodeId, local }` around each outgoing call when someone listens. */
const callChannel = tracingChannel('keel:broker.call');

/** The circuit breaker settings a broker gives each of its breakers. */
export type BreakerSettings = Omit<CircuitBreakerOptions, 'name' | 'now'>;

export class Invoker implements LocalHost {
  /** Outgoing calls not settled yet (but local calls on the fast path); stop() waits for them. */
  readonly running = new Set<Promise<unknown>>();
  /** The deadlines of local calls on the fast path: one timer for all of them. */
  readonly deadlines = new DeadlineHeap<LocalCall>((call) => call.expire(performance.now()), {
    idle: 'unref',
  });
  readonly core: BrokerCore;
  readonly #routes = new Map<CompiledAction, Route>();
  /** Handlers of fast local calls still running, and who waits for them all to end. */
  #handlers = 0;
  #idle: { promise: Promise<void>; resolve: () => void } | undefined;
  readonly #core: BrokerCore;
  readonly #server: Server;
  readonly #middleware: readonly CallMiddleware[];
  readonly #preferLocal: boolean;
  readonly #breakerOptions: BreakerSettings | false;
  readonly #budgetOptions: RetryBudgetOptions | false;
  readonly #policies = new Map<number, RetryPolicy>();
  readonly #budgets = new Map<string, RetryBudget>();
  readonly #breakers = new Map<string, CircuitBreaker>();

  constructor(
    core: BrokerCore,
    server: Server,
    middleware: readonly CallMiddleware[],
    preferLocal: boolean,
    breaker: BreakerSettings | false,
    retryBudget: RetryBudgetOptions | false = {},
  ) {
    this.#core = core;
    this.core = core;
    this.#server = server;
    this.#middleware = middleware;
    this.#preferLocal = preferLocal;
    this.#breakerOptions = breaker;
    this.#budgetOptions = retryBudget;
    // The broker's stop, past its grace, answers every fast local call still pending.
    onAbort(core.stopSignal, () => {
      const reason = core.stopSignal.reason;
      for (const call of this.deadlines.items()) call.abandon(reason);
    });
  }

  /** Every call still running, for stop() to wait on. */
  inFlight(): Promise<unknown>[] {
    const all: Promise<unknown>[] = [...this.running];
    if (this.#handlers > 0) {
      if (this.#idle === undefined) {
        let resolve = () => {};
        const promise = new Promise<void>((r) => {
          resolve = r;
        });
        this.#idle = { promise, resolve };
      }
      all.push(this.#idle.promise);
    }
    return all;
  }

  /** Clears the deadline timer: the broker has stopped. */
  close(): void {
    this.deadlines.close();
  }

  handlerStarted(): void {
    this.#handlers++;
  }

  handlerEnded(): void {
    if (--this.#handlers === 0 && this.#idle !== undefined) {
      this.#idle.resolve();
      this.#idle = undefined;
    }
  }

  /** What every call of `action` reads, worked out on its first call. */
  route(action: CompiledAction): Route {
    let route = this.#routes.get(action);
    if (route === undefined) {
      const served = this.#preferLocal ? this.#server.local.get(action.subject) : undefined;
      route = {
        action,
        served,
        plain: served !== undefined && this.#server.plain(served),
        bulkhead: served === undefined ? undefined : this.#server.bulkhead(served),
        callMeter: this.#core.meters.calling(action),
        serveMeter: served === undefined ? undefined : this.#core.meters.serving(action),
        breaker: this.#breaker(action),
        budget: this.#budget(action),
      };
      this.#routes.set(action, route);
    }
    return route;
  }
  /** Calls `action` with the resolved options, as a nested call of `parent` when there is one. */
  call(
    action: CompiledAction,
    params: unknown,
    options: ResolvedCall,
    parent: ParentCall | undefined,
  ): Promise<unknown> {
    const core = this.#core;
    const { state } = core;
    // Handlers still finishing while the broker drains may call further; nothing new starts from outside.
    if (state === 'stopped' || (state !== 'ready' && parent === undefined)) {
      return this.#refuse(action, new BrokerStoppedError(`call ${JSON.stringify(action.key)}`, core.nodeId));
    }
    const depth = (parent?.depth ?? 0) + 1;
    if (depth > core.maxCallDepth) {
      return this.#refuse(action, new CallDepthError(action.key, depth, core.maxCallDepth, core.nodeId));
    }
    const asked = options.timeoutMs ?? core.defaultTimeoutMs;
    const left = parent === undefined ? asked : Math.min(asked, Math.floor(parent.remainingMs()));
    // No budget left: the call is not sent at all.
    if (!(left >= 1)) return this.#refuse(action, new DeadlineExceededError(action.key, 0));
    const route = this.route(action);
    if (route.plain && this.#server.unwrapped() && !callChannel.hasSubscribers && !core.tracing.active()) {
      if (this.#middleware.length === 0) {
        const meta = ownMeta(options, parent);
        return this.#fast(route, params, options, parent, depth, left, performance.now(), meta, true);
      }
      // Middleware see the call first and may change its meta before `next()`; they may also answer
      // without it, fail after it or call it twice, so the call is counted (and waited for) around them.
      const meter = route.callMeter;
      const started = meter.begin();
      const request: CallRequest = {
        action: action.key,
        params,
        meta: { ...parent?.meta, ...ownMeta(options, undefined) },
        depth,
        nodeId: core.nodeId,
      };
      const last = () => {
        const meta = Object.keys(request.meta).length === 0 ? undefined : Object.freeze({ ...request.meta });
        // The budget counts from the call, not from `next()`: middleware spend it too.
        return this.#fast(route, params, options, parent, depth, left, started, meta, false);
      };
      return this.#track(
        runLayers(this.#middleware, (layer, next) => layer(request, next), last),
        meter,
        started,
      );
    }
    if (
      route.served === undefined &&
      this.#middleware.length === 0 &&
      !callChannel.hasSubscribers &&
      !core.tracing.active()
    ) {
      return this.#track(this.#direct(route, params, options, parent, depth, left), undefined, 0);
    }
    const meter = route.callMeter;
    const started = meter.begin();
    const deadline = Date.now() + left;
    const signal = combine(options.signal, parent?.signal, core.stopSignal);
    const meta: Record<string, string> = { ...parent?.meta, ...options.meta };
    const request: CallRequest = { action: action.key, params, meta, depth, nodeId: core.nodeId };
    const local = this.#preferLocal ? this.#server.local.get(action.subject) : undefined;
    const { tracing } = core;
    // A `traceparent` in the caller's meta is the trace to continue (a gateway passing on its request's).
    const from = options.trace ?? parent?.trace;
    const span = tracing.call(action, from, core.nodeId, local !== undefined, depth);
    const trace = span?.link ?? (tracing.enabled ? from : undefined);
    const attempts = () =>
      this.#attempts(action, request, options, deadline, left, signal, local !== undefined, trace);
    const run = () => runLayers(this.#middleware, (layer, next) => layer(request, next), attempts);
    const traced = span === undefined ? run : () => span.finish(run());
    const work = callChannel.hasSubscribers
      ? callChannel.tracePromise(traced, {
          action: action.key,
          nodeId: core.nodeId,
          local: local !== undefined,
        })
      : traced();
    return this.#track(work, meter, started);
  }

  /** Keeps `work` in `running` (stop() waits for it) until it settles, and counts it on `meter` when given. */
  #track(work: Promise<unknown>, meter: ActionMeter | undefined, started: number): Promise<unknown> {
    this.running.add(work);
    work.then(
      () => {
        this.running.delete(work);
        meter?.succeeded(started);
      },
      (error: unknown) => {
        this.running.delete(work);
        meter?.failed(started, error);
      },
    );
    return work;
  }

  /**
   * A call served in this process with nothing around it (no serve middleware, tracing SDK, diagnostics
   * subscriber, cap or scope; call middleware and a bulkhead it takes itself): the same validation,
   * deadline, signals, breaker, budget, metrics and error shapes as the general path, made by one object
   * with no timer and no extra promise turns.
   */
  #fast(
    route: Route,
    params: unknown,
    options: ResolvedCall,
    parent: ParentCall | undefined,
    depth: number,
    left: number,
    started: number,
    meta: MessageHeaders | undefined,
    metered: boolean,
  ): Promise<unknown> {
    const trace = this.#core.tracing.enabled ? (options.trace ?? parent?.trace) : undefined;
    const call = new LocalCall(this, route, options, parent, depth, meta, trace, started, left, metered);
    return call.run(params);
  }

  /**
   * A call over the wire with nothing around it (no middleware, tracing SDK or diagnostics subscriber):
   * the first try made at once, the retry policy consulted only after a failure; the same breaker,
   * budget, metrics and errors as the general path, in one async function instead of four.
   */
  async #direct(
    route: Route,
    params: unknown,
    options: ResolvedCall,
    parent: ParentCall | undefined,
    depth: number,
    left: number,
  ): Promise<unknown> {
    const core = this.#core;
    const { action, breaker, callMeter } = route;
    const started = callMeter.begin();
    const deadline = Date.now() + left;
    const signal = combine(options.signal, parent?.signal, core.stopSignal);
    const meta = ownMeta(options, parent);
    const trace = core.tracing.enabled ? (options.trace ?? parent?.trace) : undefined;
    const headers = trace === undefined ? meta : withTrace(meta, trace);
    let permit = 0;
    if (breaker !== undefined) {
      try {
        permit = breaker.acquire();
      } catch (error) {
        // An open circuit refuses the call before it is sent: counted, with no verdict of its own.
        callMeter.failed(started, error);
        throw error;
      }
    }
    try {
      // A call its caller gave up on beforehand is not sent, and deposits no retry token.
      if (signal.aborted) throw signal.reason;
      route.budget?.recordCall();
      let result: unknown;
      try {
        // The first try's budget: its own attemptTimeoutMs, or the whole call's.
        const ms = Math.min(left, options.attemptTimeoutMs ?? left);
        result = await this.#remote(action, params, depth, options, ms, signal, headers, ms);
      } catch (error) {
        const request: CallRequest = {
          action: action.key,
          params,
          meta: { ...meta },
          depth,
          nodeId: core.nodeId,
        };
        const attempt = this.#attempt(action, request, options, deadline, left, signal, false, trace);
        result = await this.#policy(options.retries).resume(error, attempt, {
          idempotent: action.spec.idempotent === true || options.idempotencyKey !== undefined,
          budget: route.budget,
          remainingMs: () => deadline - Date.now(),
          signal,
        });
      }
      breaker?.success(permit);
      callMeter.succeeded(started);
      return result;
    } catch (error) {
      callMeter.failed(started, error);
      if (breaker !== undefined) {
        // No verdict when the caller gave up or this side's own connection is down (see #attempts).
        if (signal.aborted || error instanceof TransportConnectionError) breaker.release(permit);
        else breaker.failure(permit, error);
      }
      throw error;
    }
  }

  /** LocalHost: the tries after a fast local call's first one failed retryably, as the policy allows. */
  retry(call: LocalCall, error: Error): Promise<unknown> | undefined {
    const { route, options } = call;
    const { action } = route;
    const idempotent = action.spec.idempotent === true || options.idempotencyKey !== undefined;
    if (!idempotent || options.retries === 0) return undefined;
    const parent = call.parent;
    const remaining = call.callRemainingMs();
    if (!(remaining >= 1)) return undefined;
    const deadline = Date.now() + remaining;
    const signal = combine(options.signal, parent?.signal, this.#core.stopSignal);
    const request: CallRequest = {
      action: action.key,
      params: call.params,
      meta: call.meta,
      depth: call.depth,
      nodeId: this.#core.nodeId,
    };
    const attempt = this.#attempt(
      action,
      request,
      options,
      deadline,
      call.budgetMs,
      signal,
      true,
      call.trace,
    );
    const rest = this.#policy(options.retries).resume(error, attempt, {
      idempotent,
      budget: route.budget,
      remainingMs: () => deadline - Date.now(),
      signal,
    });
    this.running.add(rest);
    const forget = () => {
      this.running.delete(rest);
    };
    rest.then(forget, forget);
    return rest;
  }

  /** A call refused before it started still counts, as a failure taking no time. */
  #refuse(action: CompiledAction, error: Error): Promise<never> {
    const meter = this.#core.meters.calling(action);
    meter.failed(meter.begin(), error);
    return Promise.reject(error);
  }

  async #attempts(
    action: CompiledAction,
    request: CallRequest,
    options: ResolvedCall,
    deadline: number,
    budget: number,
    signal: AbortSignal,
    local: boolean,
    trace: TraceLink | undefined,
  ): Promise<unknown> {
    const breaker = this.#breaker(action);
    const attempt = this.#attempt(action, request, options, deadline, budget, signal, local, trace);
    const tries = () =>
      this.#policy(options.retries).run(attempt, {
        // Only a call safe to repeat is tried again: an idempotent action, or one given a key.
        idempotent: action.spec.idempotent === true || options.idempotencyKey !== undefined,
        budget: this.#budget(action),
        remainingMs: () => deadline - Date.now(),
        signal,
      });
    if (breaker === undefined) return tries();
    // The breaker judges calls, not tries: a call that a retry saved (its first instance died, say) is
    // no failure of the action, so one lost instance of several does not open the circuit for all.
    const permit = breaker.acquire();
    let result: unknown;
    try {
      result = await tries();
    } catch (error) {
      // No verdict on the action when the caller gave up, or when this side's own connection is down
      // (nothing reached the action): an outage of the bus must not keep the circuit open after it.
      if (signal.aborted || error instanceof TransportConnectionError) breaker.release(permit);
      else breaker.failure(permit, error);
      throw error;
    }
    breaker.success(permit);
    return result;
  }

  /** One try of a call, as the retry policy makes them. */
  #attempt(
    action: CompiledAction,
    request: CallRequest,
    options: ResolvedCall,
    deadline: number,
    budget: number,
    signal: AbortSignal,
    local: boolean,
    trace: TraceLink | undefined,
  ): () => Promise<unknown> {
    const meta = Object.keys(request.meta).length === 0 ? undefined : Object.freeze({ ...request.meta });
    // The trace context travels in the headers beside the meta, and reaches the handler apart from it.
    const headers = trace === undefined || local ? meta : withTrace(meta, trace);
    return () => {
      const left = Math.floor(deadline - Date.now());
      if (!(left >= 1)) throw new DeadlineExceededError(action.key, budget);
      // A try abandoned at its own deadline leaves the rest of the budget to a retry.
      const ms = Math.min(left, options.attemptTimeoutMs ?? left);
      const tryBudget = ms < left ? ms : budget;
      return local
        ? this.#local(action, request, options, ms, signal, meta, tryBudget, trace)
        : this.#remote(action, request.params, request.depth, options, ms, signal, headers, tryBudget);
    };
  }

  /**
   * One policy per retry count asked for (a caller's `retries`), made once for the small counts people use;
   * a larger one is made per call, so callers cannot grow the cache without bound.
   */
  #policy(retries: number): RetryPolicy {
    let policy = this.#policies.get(retries);
    if (policy === undefined) {
      policy = new RetryPolicy({ retries });
      if (retries <= MAX_CACHED_RETRIES) this.#policies.set(retries, policy);
    }
    return policy;
  }

  /** The retry budget of one target action: retries stay near a tenth of its calls. */
  #budget(action: CompiledAction): RetryBudget | undefined {
    if (this.#budgetOptions === false) return undefined;
    let budget = this.#budgets.get(action.key);
    if (budget === undefined) {
      budget = new RetryBudget(this.#budgetOptions);
      this.#budgets.set(action.key, budget);
    }
    return budget;
  }

  /** This broker's breaker for one action (undefined when breakers are off). */
  #breaker(action: CompiledAction): CircuitBreaker | undefined {
    if (this.#breakerOptions === false) return undefined;
    let breaker = this.#breakers.get(action.key);
    if (breaker === undefined) {
      breaker = new CircuitBreaker({ ...this.#breakerOptions, name: `${this.#core.nodeId} → ${action.key}` });
      this.#breakers.set(action.key, breaker);
    }
    return breaker;
  }

  async #remote(
    action: CompiledAction,
    params: unknown,
    depth: number,
    options: ResolvedCall,
    timeoutMs: number,
    signal: AbortSignal,
    meta: MessageHeaders | undefined,
    budget: number,
  ): Promise<unknown> {
    const core = this.#core;
    const envelope = encodeCall({
      params,
      depth,
      key: options.idempotencyKey,
      caller: core.nodeId,
    });
    let reply: unknown;
    try {
      reply = await core.transport.request(action.subject, envelope, { timeoutMs, signal, headers: meta });
    } catch (error) {
      if (error instanceof TransportTimeoutError)
        throw new DeadlineExceededError(action.key, budget, { cause: error });
      // An instance that was leaving its group refused the call: as if nobody had served it (retryable).
      if (error instanceof RemoteHandlerError && error.remoteCode === 'KEEL_TRANSPORT_NO_RESPONDERS') {
        throw new NoRespondersError(action.subject);
      }
      // The responder's transport failed before the broker could answer (its reply did not encode, say).
      if (error instanceof RemoteHandlerError) {
        throw new RemoteError(
          action.key,
          {
            code: error.remoteCode,
            name: error.remoteName,
            message: error.message,
            retryable: error.retryable,
          },
          { cause: error },
        );
      }
      throw error;
    }
    const decoded = decodeReply(reply);
    if (!decoded.ok) throw new BrokerProtocolError(action.subject, decoded.reason);
    if (decoded.value.ok) {
      // A broker that predates the field does not say who served; then nobody is named.
      if (decoded.value.nodeId !== undefined) tellServed(options, decoded.value.nodeId);
      return decoded.value.result;
    }
    const { error } = decoded.value;
    // The handler ended on this call's own deadline, seen on the serving side a moment before this one.
    if (error.code === 'KEEL_TRANSPORT_DEADLINE') {
      throw new DeadlineExceededError(action.key, budget, { nodeId: error.nodeId });
    }
    throw fromWireError(action.key, error);
  }

  /** Serves the call in this process: no wire, the same validation, deadline, signal and error shapes. */
  #local(
    action: CompiledAction,
    request: CallRequest,
    options: ResolvedCall,
    timeoutMs: number,
    signal: AbortSignal,
    meta: MessageHeaders | undefined,
    budget: number,
    trace: TraceLink | undefined,
  ): Promise<unknown> {
    const served = this.#server.local.get(action.subject);
    if (served === undefined)
      return Promise.reject(new BrokerStoppedError(`serve ${JSON.stringify(action.key)}`));
    signal.throwIfAborted();
    const core = this.#core;
    const control = new AbortController();
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      // The caller was answered already (deadline, abort): a handler that answers later serves nobody.
      let over = false;
      const stop = (reason: unknown) => {
        over = true;
        finish();
        control.abort(reason);
        reject(reason);
      };
      let timer: ReturnType<typeof setLongTimeout> | undefined;
      let unwatch: (() => void) | undefined;
      const finish = () => {
        clearLongTimeout(timer);
        unwatch?.();
      };
      timer = setLongTimeout(() => stop(new DeadlineExceededError(action.key, budget)), timeoutMs);
      unwatch = onAbort(signal, () => stop(signal.reason));
      this.#server
        .run(served, request.params, {
          depth: request.depth,
          key: options.idempotencyKey,
          caller: core.nodeId,
          meta: meta ?? noHeaders,
          deadline,
          source: () => control.signal,
          trace,
        })
        .then(
          (result) => {
            finish();
            if (over) return;
            tellServed(options, core.nodeId);
            resolve(result);
          },
          (error: unknown) => {
            finish();
            // The same error a remote caller would get: what crosses the wire, and nothing more.
            reject(fromWireError(action.key, toWireError(error, core.nodeId, served.exposeStack)));
          },
        );
    });
  }
}

/**
 * The meta a call carries, frozen: its parent's, then the caller's own (already frozen, without the trace
 * context); either as it is when the other has nothing.
 */
function ownMeta(options: ResolvedCall, parent: ParentCall | undefined): MessageHeaders | undefined {
  const own = options.meta;
  if (own === undefined) return parent?.meta;
  if (parent === undefined || Object.keys(parent.meta).length === 0) return own;
  return Object.freeze({ ...parent.meta, ...own });
}

/** One signal for every reason a call may end early. */
function combine(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  return present.length === 1 ? (present[0] as AbortSignal) : AbortSignal.any(present);
}
