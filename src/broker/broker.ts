/** Broker: calls actions, emits events and serves its services over a Transport, with one lifecycle. */
import { settleWithin } from '../abort.ts';
import type { Container } from '../container/index.ts';
import { checkDuration, checkOptions, checkSignal, describe, InvalidArgumentError } from '../errors.ts';
import type { Transport } from '../transport/index.ts';
import { BrokerStoppedError, UnknownActionError } from './broker-errors.ts';
import { type CallOptions, callResolved, type ResolvedCall, resolveCall } from './call-options.ts';
import {
  type ActionAt,
  type ActionKey,
  type AnyContract,
  type CompiledAction,
  type CompiledContract,
  type CompiledEvent,
  compile,
  type EventKey,
  type EventPayloadIn,
  type EventPayloadOut,
  type ParamsIn,
  type ResultOut,
} from './contract.ts';
import type { BrokerCore, BrokerState, ParentCall } from './core.ts';
import { Discovery, gatherServices, type ServiceInstance } from './discovery.ts';
import { type BreakerSettings, Invoker } from './invoker.ts';
import { type BrokerMetrics, Meters } from './metrics.ts';
import type { CallMiddleware, Middleware, ServeMiddleware } from './middleware.ts';
import { type EventObserver, type EventObserverListener, type ObserveOptions, observe } from './observe.ts';
import type { RetryBudgetOptions } from './retry-budget.ts';
import { Server } from './server.ts';
import type { CompiledService } from './service.ts';
import { serviceNamePattern } from './service-api.ts';
import type { Client } from './service-context.ts';
import { type Tracing, withTrace } from './tracing.ts';
import { validate } from './validate.ts';
import { encodeEvent } from './wire.ts';

export interface StopOptions {
  /** How long calls in flight may take to finish before they are aborted. @default 10000 */
  readonly timeoutMs?: number | undefined;
  /** Aborting ends the wait at once, as the deadline would. */
  readonly signal?: AbortSignal | undefined;
}

export interface ServicesOptions {
  /** Only the instances of the service of this name (a contract's name). @default every service */
  readonly name?: string | undefined;
  /** How long to wait for instances to answer. @default 1000 */
  readonly timeoutMs?: number | undefined;
  /** End the wait when no instance answered for this long after the last one. @default Infinity */
  readonly stallMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** What `createBroker` hands the broker, checked and with defaults applied. */
export interface Setup {
  readonly transport: Transport;
  readonly owned: boolean;
  readonly services: readonly CompiledService[];
  readonly contracts: readonly CompiledContract[];
  readonly container: Container | undefined;
  readonly nodeId: string;
  readonly defaultTimeoutMs: number;
  readonly maxCallDepth: number;
  readonly preferLocal: boolean;
  readonly breaker: BreakerSettings | false;
  readonly tracing: Tracing;
  readonly retryBudget: RetryBudgetOptions | false;
  /** Whether the served services answer the NATS Service API ($SRV). */
  readonly discovery: boolean;
}

/** A broker: calls actions, emits events and serves its services. Made by `createBroker`. */
export class Broker<C extends AnyContract = AnyContract> implements BrokerCore, AsyncDisposable {
  readonly nodeId: string;
  readonly transport: Transport;
  readonly defaultTimeoutMs: number;
  readonly maxCallDepth: number;
  readonly container: Container | undefined;
  readonly tracing: Tracing;
  /** @internal The counters behind `metrics()` and the $SRV stats. */
  readonly meters = new Meters();
  #state: BrokerState = 'starting';
  readonly #stop = new AbortController();
  readonly #owned: boolean;
  readonly #actions = new Map<string, CompiledAction>();
  readonly #events = new Map<string, CompiledEvent>();
  readonly #contracts = new Map<string, CompiledContract>();
  readonly #callMiddleware: CallMiddleware[] = [];
  readonly #serveMiddleware: ServeMiddleware[] = [];
  readonly #server: Server;
  readonly #invoker: Invoker;
  readonly #discovery: Discovery | undefined;
  readonly #observers = new Set<EventObserver>();
  /** What `call` names an action in its errors, made once per action. */
  readonly #labels = new WeakMap<CompiledAction, string>();
  #stopping: Promise<void> | undefined;

  /** @internal Use `createBroker`. */
  constructor(setup: Setup) {
    this.nodeId = setup.nodeId;
    this.transport = setup.transport;
    this.defaultTimeoutMs = setup.defaultTimeoutMs;
    this.maxCallDepth = setup.maxCallDepth;
    this.container = setup.container;
    this.tracing = setup.tracing;
    this.#owned = setup.owned;
    for (const contract of [...setup.services.map((s) => s.contract), ...setup.contracts])
      this.#know(contract);
    for (const service of setup.services) {
      for (const listened of service.events.values()) this.#events.set(listened.event.key, listened.event);
      // Every served action is in metrics() from the start, at zero.
      for (const served of service.actions.values()) this.meters.serving(served.action);
    }
    this.#server = new Server(this, setup.services, this.#serveMiddleware);
    this.#invoker = new Invoker(
      this,
      this.#server,
      this.#callMiddleware,
      setup.preferLocal,
      setup.breaker,
      setup.retryBudget,
    );
    if (setup.discovery && setup.services.length > 0) {
      this.#discovery = new Discovery(this.transport, this.nodeId, setup.services, this.meters);
    }
  }

  /** `starting`, `ready`, `draining` (stop() called) or `stopped`. */
  get state(): BrokerState {
    return this.#state;
  }

  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  /** @internal Joins the queue groups; called by `createBroker`. */
  async start(): Promise<void> {
    await this.#server.start();
    await this.#discovery?.start();
    if (this.#state === 'starting') this.#state = 'ready';
  }

  /** A typed client of `contract`: `await client.create(params, { timeoutMs, signal, retries, idempotencyKey, meta })`. */
  client<K extends AnyContract>(contract: K): Client<K> {
    return this.nestedClient(contract, undefined);
  }

  /** @internal A client whose calls are nested in `parent` (`ctx.client`). */
  nestedClient<K extends AnyContract>(contract: K, parent: ParentCall | undefined): Client<K> {
    const compiled = compile('Broker.client() contract', contract);
    const client = Object.create(null) as Record<string, unknown>;
    for (const [name, action] of compiled.actions) {
      const label = `${action.key}()`;
      client[name] = (params: unknown, options?: CallOptions) => {
        try {
          return this.#invoker.call(action, params, resolveCall(label, options), parent);
        } catch (error) {
          return Promise.reject(error);
        }
      };
    }
    return Object.freeze(client) as Client<K>;
  }

  /** Calls `<contract>.<action>` of a contract this broker knows (from its services or `contracts`). */
  call<K extends ActionKey<C>>(
    action: K,
    params: ParamsIn<ActionAt<C, K>>,
    options?: CallOptions,
  ): Promise<ResultOut<ActionAt<C, K>>> {
    return this.callByName(action, params, options, undefined) as Promise<ResultOut<ActionAt<C, K>>>;
  }

  /** @internal The untyped call behind `call` and `ctx.call`. */
  callByName(
    action: string,
    params: unknown,
    options: CallOptions | undefined,
    parent: ParentCall | undefined,
  ): Promise<unknown> {
    try {
      const found = this.#action(action);
      let label = this.#labels.get(found);
      if (label === undefined) {
        label = `Broker.call(${JSON.stringify(action)})`;
        this.#labels.set(found, label);
      }
      return this.#invoker.call(found, params, resolveCall(label, options), parent);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * @internal A call whose options were checked where they were made: the gateway builds them per request
   * from parts it checked once (a route's deadlines) or validated at the HTTP boundary (the request id,
   * the trace context), so the per-call checks of `call()` would only repeat that work. Unknown actions
   * are refused as `call()` refuses them.
   */
  [callResolved](action: string, params: unknown, options: ResolvedCall): Promise<unknown> {
    try {
      return this.#invoker.call(this.#action(action), params, options, undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The action of this name the broker knows; UnknownActionError listing the known ones otherwise. */
  #action(name: string): CompiledAction {
    const found = typeof name === 'string' ? this.#actions.get(name) : undefined;
    if (found === undefined) throw new UnknownActionError(String(name), [...this.#actions.keys()]);
    return found;
  }

  /** Sends an event to one instance of each service listening to it. The payload is validated first. */
  emit<K extends EventKey<C>>(event: K, payload: EventPayloadIn<C, K>): Promise<void> {
    return this.publishEvent(event, payload, false);
  }

  /** Sends an event to every instance of every service listening to it. */
  broadcast<K extends EventKey<C>>(event: K, payload: EventPayloadIn<C, K>): Promise<void> {
    return this.publishEvent(event, payload, true);
  }

  /** @internal */
  async publishEvent(
    event: string,
    payload: unknown,
    broadcast: boolean,
    parent?: ParentCall,
  ): Promise<void> {
    const found = typeof event === 'string' ? this.#events.get(event) : undefined;
    if (found === undefined) {
      throw new InvalidArgumentError(
        `No contract known to this broker defines the event ${describe(event)}; known events: ${[...this.#events.keys()].join(', ') || 'none'}`,
      );
    }
    if (this.#state !== 'ready') throw new BrokerStoppedError(`emit ${JSON.stringify(event)}`, this.nodeId);
    const value = await validate(found.spec.payload, payload, found.key, 'payload', this.nodeId);
    const subject = broadcast ? found.broadcastSubject : found.subject;
    const { tracing } = this;
    const span = tracing.send(found, parent?.trace, this.nodeId, broadcast);
    const link = span?.link ?? (tracing.enabled ? parent?.trace : undefined);
    const sent = this.transport.publish(
      subject,
      encodeEvent({ payload: value }),
      link === undefined ? undefined : { headers: withTrace(undefined, link) },
    );
    await (span === undefined ? sent : span.finish(sent));
  }

  /**
   * Hears every event `event` (emitted or broadcast, by any instance), outside any queue group: every
   * broker that calls `on` gets its own copy, whichever services also listen. The listener gets the
   * payload validated against the contract's schema; its failures (and invalid payloads) are reported on
   * `keel:broker.unhandled`. Returns a handle to stop listening (`using` works); `await handle.ready`
   * before relying on events published from elsewhere. Ended by `stop()`.
   */
  on<K extends EventKey<C>>(
    event: K,
    listener: EventObserverListener<EventPayloadOut<C, K>>,
    options?: ObserveOptions,
  ): EventObserver {
    const found = typeof event === 'string' ? this.#events.get(event) : undefined;
    if (found === undefined) {
      throw new InvalidArgumentError(
        `Broker.on(): no contract known to this broker defines the event ${describe(event)}; known events: ${[...this.#events.keys()].join(', ') || 'none'}`,
      );
    }
    if (this.#state === 'draining' || this.#state === 'stopped') {
      throw new BrokerStoppedError(`observe ${JSON.stringify(event)}`, this.nodeId);
    }
    return observe(
      this.transport,
      found,
      this.nodeId,
      listener as EventObserverListener<unknown>,
      options,
      this.#observers,
    );
  }

  /** Adds middleware around outgoing (`call`) and served (`serve`) calls; earlier registrations run outermost. */
  use(middleware: Middleware): this {
    checkOptions('Broker.use() middleware', middleware, ['call', 'serve']);
    if (middleware === undefined)
      throw new InvalidArgumentError('Broker.use() middleware must be { call?, serve? }');
    for (const kind of ['call', 'serve'] as const) {
      const fn = middleware[kind];
      if (fn !== undefined && typeof fn !== 'function') {
        throw new InvalidArgumentError(`Broker.use() ${kind} must be a function; received ${describe(fn)}`);
      }
    }
    if (middleware.call) this.#callMiddleware.push(middleware.call);
    if (middleware.serve) this.#serveMiddleware.push(middleware.serve);
    return this;
  }

  /**
   * The live instances of services on this broker's transport (this broker's own included), gathered
   * through the NATS Service API (`$SRV.STATS`): each with its name, version, id, nodeId, and actions
   * with their subjects and stats. Waits `timeoutMs` (or until answers stall for `stallMs`).
   */
  services(options?: ServicesOptions): Promise<ServiceInstance[]> {
    try {
      checkOptions('Broker.services() options', options, ['name', 'timeoutMs', 'stallMs', 'signal']);
      const name = options?.name;
      if (name !== undefined && (typeof name !== 'string' || !serviceNamePattern.test(name))) {
        throw new InvalidArgumentError(
          `Broker.services() name must be a service name (letters, digits, _ and -); received ${describe(name)}`,
        );
      }
      const timeoutMs = checkDuration('Broker.services() timeoutMs', options?.timeoutMs ?? 1000, {
        min: 1,
        allowInfinity: false,
      });
      const stallMs = checkDuration(
        'Broker.services() stallMs',
        options?.stallMs ?? Number.POSITIVE_INFINITY,
        {
          min: 1,
        },
      );
      checkSignal('Broker.services() signal', options?.signal);
      if (this.#state !== 'ready') throw new BrokerStoppedError('list services', this.nodeId);
      return gatherServices(this.transport, {
        name,
        timeoutMs: Math.ceil(timeoutMs),
        stallMs: Number.isFinite(stallMs) ? Math.ceil(stallMs) : stallMs,
        signal: options?.signal,
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A snapshot of this broker's counters: per action it called (`side: 'call'`) or served (`'serve'`),
   * calls, errors by code, in-flight and a latency histogram in ms. Shaped for a Prometheus exporter;
   * see docs/services.md.
   */
  metrics(): BrokerMetrics {
    return this.meters.snapshot(this.nodeId);
  }

  /**
   * Leaves every queue group (new calls go to other instances), lets calls in flight finish within
   * `timeoutMs`, then aborts them (their `ctx.signal` and waiting callers get BrokerStoppedError), and
   * closes the transport if the broker opened it. Idempotent.
   */
  stop(options?: StopOptions): Promise<void> {
    if (this.#stopping === undefined) {
      try {
        checkOptions('Broker.stop() options', options, ['timeoutMs', 'signal']);
        const timeoutMs = checkDuration('Broker.stop() timeoutMs', options?.timeoutMs ?? 10_000);
        checkSignal('Broker.stop() signal', options?.signal);
        this.#stopping = this.#drain(timeoutMs, options?.signal);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #drain(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.#state = 'draining';
    this.#server.leave();
    this.#discovery?.leave();
    for (const observer of [...this.#observers]) observer();
    const inFlight = () => [...this.#server.running, ...this.#invoker.inFlight()];
    const settled = await settleWithin(inFlight(), timeoutMs, signal);
    if (!settled) {
      this.#stop.abort(new BrokerStoppedError('finish the call', this.nodeId));
      // Handlers that honour their signal end now; one that ignores it is not waited for long.
      await settleWithin(inFlight(), 1000);
    }
    await this.#server.close();
    this.#invoker.close();
    this.#state = 'stopped';
    if (this.#owned) await this.transport.close({ timeoutMs: 1000 });
  }

  #know(contract: CompiledContract): void {
    const seen = this.#contracts.get(contract.name);
    if (seen === contract) return;
    if (seen !== undefined) {
      throw new InvalidArgumentError(
        `createBroker(): two contracts are named ${describe(contract.name)} (v${seen.major} and v${contract.major}); one broker knows one major of a contract`,
      );
    }
    this.#contracts.set(contract.name, contract);
    for (const action of contract.actions.values()) this.#actions.set(action.key, action);
    for (const event of contract.events.values()) this.#events.set(event.key, event);
  }
}
