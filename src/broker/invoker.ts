/** Invoker: the calling side — deadlines, depth, retries, middleware, and the local short-circuit or the wire. */
import { tracingChannel } from 'node:diagnostics_channel';
import { onAbort } from '../abort.ts';
import { type MessageHeaders, RemoteHandlerError, TransportTimeoutError } from '../transport/index.ts';
import {
  BrokerProtocolError,
  BrokerStoppedError,
  CallDepthError,
  DeadlineExceededError,
  RemoteError,
} from './broker-errors.ts';
import type { ResolvedCall } from './call-options.ts';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.ts';
import type { CompiledAction } from './contract.ts';
import type { BrokerCore, ParentCall } from './core.ts';
import { Deadlines, type Timed } from './deadlines.ts';
import { type CallMiddleware, type CallRequest, runLayers } from './middleware.ts';
import { RetryBudget } from './retry-budget.ts';
import { RetryPolicy } from './retry-policy.ts';
import type { Outcome, Server } from './server.ts';
import { TRACEPARENT, TRACESTATE, type TraceLink, traceOf, withoutTrace, withTrace } from './tracing.ts';
import { decodeReply, encodeCall } from './wire.ts';
import { fromWireError, toWireError } from './wire-errors.ts';

/** Retry counts up to this get a cached policy. */
const MAX_CACHED_RETRIES = 10;

/** Publishes `{ action, nodeId, local }` around each outgoing call when someone listens. */
const callChannel = tracingChannel('keel:broker.call');

/** The circuit breaker settings a broker gives each of its breakers. */
export type BreakerSettings = Omit<CircuitBreakerOptions, 'name' | 'now'>;

export class Invoker {
  /** Outgoing calls not settled yet; stop() waits for them. */
  readonly running = new Set<Promise<unknown>>();
  readonly #core: BrokerCore;
  readonly #server: Server;
  readonly #middleware: readonly CallMiddleware[];
  readonly #preferLocal: boolean;
  readonly #breakerOptions: BreakerSettings | false;
  readonly #policies = new Map<number, RetryPolicy>();
  readonly #budgets = new Map<string, RetryBudget>();
  readonly #breakers = new Map<string, CircuitBreaker>();
  /** Local calls pending, on one timer for all their deadlines. */
  readonly #localCalls = new Deadlines<LocalCall>();

  constructor(
    core: BrokerCore,
    server: Server,
    middleware: readonly CallMiddleware[],
    preferLocal: boolean,
    breaker: BreakerSettings | false,
  ) {
    this.#core = core;
    this.#server = server;
    this.#middleware = middleware;
    this.#preferLocal = preferLocal;
    this.#breakerOptions = breaker;
    // One listener for every local call, rather than one added and removed per call.
    const stop = core.stopSignal;
    onAbort(stop, () => {
      for (const call of [...this.#localCalls.values()]) call.stop(stop.reason);
    });
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
      return Promise.reject(new BrokerStoppedError(`call ${JSON.stringify(action.key)}`, core.nodeId));
    }
    const depth = (parent?.depth ?? 0) + 1;
    if (depth > core.maxCallDepth) {
      return Promise.reject(new CallDepthError(action.key, depth, core.maxCallDepth, core.nodeId));
    }
    const asked = options.timeoutMs ?? core.defaultTimeoutMs;
    const now = Date.now();
    const left = parent === undefined ? asked : Math.min(asked, Math.floor(parent.deadline - now));
    // No budget left: the call is not sent at all.
    if (!(left >= 1)) return Promise.reject(new DeadlineExceededError(action.key, 0));
    const deadline = now + left;
    // A nested call's parent signal already aborts when the broker stops.
    const signal = combine(options.signal, parent === undefined ? core.stopSignal : parent.signal);
    // A `traceparent` in the caller's meta is the trace to continue (a gateway passing on its request's).
    const given = options.meta?.[TRACEPARENT] ?? options.meta?.[TRACESTATE];
    const meta: Record<string, string> =
      parent === undefined && options.meta === undefined
        ? {}
        : {
            ...parent?.meta,
            ...(given === undefined ? options.meta : withoutTrace(options.meta as MessageHeaders)),
          };
    const request: CallRequest = { action: action.key, params, meta, depth, nodeId: core.nodeId };
    const local = this.#preferLocal ? this.#server.local.get(action.subject) : undefined;
    const { tracing } = core;
    const from =
      given === undefined ? parent?.trace : (traceOf(options.meta as MessageHeaders) ?? parent?.trace);
    const span = tracing.call(action, from, core.nodeId, local !== undefined, depth);
    const trace = span?.link ?? (tracing.enabled ? from : undefined);
    const attempts = () =>
      this.#attempts(action, request, options, deadline, left, signal, local !== undefined, trace);
    const run =
      this.#middleware.length === 0
        ? attempts
        : () => runLayers(this.#middleware, (layer, next) => layer(request, next), attempts);
    const traced = span === undefined ? run : () => span.finish(run());
    const work = callChannel.hasSubscribers
      ? callChannel.tracePromise(traced, {
          action: action.key,
          nodeId: core.nodeId,
          local: local !== undefined,
        })
      : traced();
    this.running.add(work);
    const forget = () => this.running.delete(work);
    work.then(forget, forget);
    return work;
  }

  #attempts(
    action: CompiledAction,
    request: CallRequest,
    options: ResolvedCall,
    deadline: number,
    budget: number,
    signal: AbortSignal,
    local: boolean,
    trace: TraceLink | undefined,
  ): Promise<unknown> {
    const meta = isEmpty(request.meta) ? undefined : Object.freeze({ ...request.meta });
    // The trace context travels in the headers beside the meta, and reaches the handler apart from it.
    const headers = trace === undefined || local ? meta : withTrace(meta, trace);
    const breaker = this.#breaker(action);
    const attempt = (): Promise<unknown> => {
      const left = Math.floor(deadline - Date.now());
      if (!(left >= 1)) throw new DeadlineExceededError(action.key, budget);
      // The breaker's permit, taken and given back here rather than through breaker.run(), which would add
      // a promise and an options check to every call (a local call gives it back as it settles).
      const permit = breaker?.acquire() ?? 0;
      if (local) {
        const judge = breaker === undefined ? undefined : { breaker, permit, signal };
        return this.#local(action, request, options, left, signal, meta, budget, trace, judge);
      }
      let sent: Promise<unknown>;
      try {
        sent = this.#remote(action, request, options, left, signal, headers, budget);
      } catch (error) {
        sent = Promise.reject(error);
      }
      if (breaker === undefined) return sent;
      return sent.then(
        (result) => {
          breaker.success(permit);
          return result;
        },
        (error: unknown) => {
          judged({ breaker, permit, signal }, false, error);
          throw error;
        },
      );
    };
    return this.#policy(options.retries).run(attempt, {
      // Only a call safe to repeat is tried again: an idempotent action, or one given a key.
      idempotent: action.spec.idempotent === true || options.idempotencyKey !== undefined,
      budget: this.#budget(action),
      remainingMs: () => deadline - Date.now(),
      signal,
    });
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
  #budget(action: CompiledAction): RetryBudget {
    let budget = this.#budgets.get(action.key);
    if (budget === undefined) {
      budget = new RetryBudget();
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
    request: CallRequest,
    options: ResolvedCall,
    timeoutMs: number,
    signal: AbortSignal,
    meta: MessageHeaders | undefined,
    budget: number,
  ): Promise<unknown> {
    const core = this.#core;
    const envelope = encodeCall({
      params: request.params,
      depth: request.depth,
      key: options.idempotencyKey,
      caller: core.nodeId,
    });
    let reply: unknown;
    try {
      reply = await core.transport.request(action.subject, envelope, { timeoutMs, signal, headers: meta });
    } catch (error) {
      if (error instanceof TransportTimeoutError)
        throw new DeadlineExceededError(action.key, budget, { cause: error });
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
    if (decoded.value.ok) return decoded.value.result;
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
    judge: Judge | undefined,
  ): Promise<unknown> {
    const core = this.#core;
    const served = this.#server.local.get(action.subject);
    if (served === undefined || signal.aborted) {
      const error = signal.aborted
        ? signal.reason
        : new BrokerStoppedError(`serve ${JSON.stringify(action.key)}`);
      if (judge !== undefined) judged(judge, false, error);
      return Promise.reject(error);
    }
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const call = new LocalCall(
      this.#localCalls,
      Date.now() + timeoutMs,
      action.key,
      budget,
      resolve,
      reject,
      {
        nodeId: core.nodeId,
        exposeStack: served.exposeStack,
        judge,
      },
    );
    this.#localCalls.add(call);
    // The broker's own stop signal is watched once for every local call (see the constructor).
    if (signal !== core.stopSignal) call.watch(signal);
    // The server tells the call how it ended, with no promise reaction of the call's own.
    this.#server.run(
      served,
      request.params,
      {
        depth: request.depth,
        key: options.idempotencyKey,
        caller: core.nodeId,
        meta: meta ?? noMeta,
        deadline: call.deadline,
        source: () => call.signal(),
        trace,
      },
      call,
    );
    return promise;
  }

  /** Ends the wait of every local call still pending (the broker's stop deadline passed); clears their timer. */
  close(): void {
    this.#localCalls.clear();
  }
}

/**
 * One call served in this process, seen from its caller: its deadline (on the invoker's shared timer), the
 * caller's abort, and the handler's signal, made only if the handler reads it.
 */
class LocalCall implements Timed, Outcome {
  readonly deadline: number;
  readonly #settings: LocalSettings;
  readonly #calls: Deadlines<LocalCall>;
  readonly #action: string;
  readonly #budget: number;
  readonly #resolve: (value: unknown) => void;
  readonly #reject: (reason: unknown) => void;
  #control: AbortController | undefined;
  #unwatch: (() => void) | undefined;
  #done = false;
  #stopped = false;
  #reason: unknown;

  constructor(
    calls: Deadlines<LocalCall>,
    deadline: number,
    action: string,
    budget: number,
    resolve: (value: unknown) => void,
    reject: (reason: unknown) => void,
    settings: LocalSettings,
  ) {
    this.#settings = settings;
    this.#calls = calls;
    this.deadline = deadline;
    this.#action = action;
    this.#budget = budget;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Stops the call when `signal` aborts (it is not aborted yet). */
  watch(signal: AbortSignal): void {
    this.#unwatch = onAbort(signal, () => this.stop(signal.reason));
  }

  /** The handler's side of cancellation: aborts when the caller gives up, the deadline passes, or the broker stops. */
  signal(): AbortSignal {
    if (this.#control === undefined) {
      this.#control = new AbortController();
      if (this.#stopped) this.#control.abort(this.#reason);
    }
    return this.#control.signal;
  }

  expire(): void {
    this.stop(new DeadlineExceededError(this.#action, this.#budget));
  }

  /** Ends the call early: the caller gets `reason` at once, the handler's signal aborts with it. */
  stop(reason: unknown): void {
    if (this.#done) return;
    this.#finish();
    this.#stopped = true;
    this.#reason = reason;
    this.#control?.abort(reason);
    const { judge } = this.#settings;
    if (judge !== undefined) judged(judge, false, reason);
    this.#reject(reason);
  }

  /** The handler settled: its outcome goes to the caller, unless the call already ended. */
  settle(ok: boolean, value: unknown): void {
    if (this.#done) return;
    this.#finish();
    const { judge, nodeId, exposeStack } = this.#settings;
    if (judge !== undefined) judged(judge, ok, value);
    if (ok) this.#resolve(value);
    // The same error a remote caller would get: what crosses the wire, and nothing more.
    else this.#reject(fromWireError(this.#action, toWireError(value, nodeId, exposeStack)));
  }

  #finish(): void {
    this.#done = true;
    this.#calls.delete(this);
    this.#unwatch?.();
  }
}

const noMeta: MessageHeaders = Object.freeze({});

/** A circuit breaker's permit for one try, and the signal that tells the caller's abort from a failure. */
interface Judge {
  readonly breaker: CircuitBreaker;
  readonly permit: number;
  readonly signal: AbortSignal;
}

/** What a local call needs to settle as a remote one would. */
interface LocalSettings {
  readonly nodeId: string;
  readonly exposeStack: boolean;
  readonly judge: Judge | undefined;
}

/**
 * Reports a try's outcome to its breaker. A failure while the call's signal is aborted is the caller's
 * doing: the permit goes back, moving nothing.
 */
function judged({ breaker, permit, signal }: Judge, ok: boolean, error: unknown): void {
  if (ok) breaker.success(permit);
  else if (signal.aborted) breaker.release(permit);
  else breaker.failure(permit, error);
}

function isEmpty(record: Record<string, string>): boolean {
  for (const _ in record) return false;
  return true;
}

/** One signal for every reason a call may end early. */
function combine(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  return present.length === 1 ? (present[0] as AbortSignal) : AbortSignal.any(present);
}
