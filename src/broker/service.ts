/** defineService: an implementation of a contract — a handler per action, listeners for events, limits per action. */
import {
  checkCount,
  checkDuration,
  checkFunction,
  checkOptions,
  describe,
  InvalidArgumentError,
} from '../errors.ts';
import type { SchemaOutput } from '../standard-schema.ts';
import {
  type ActionSpec,
  type AnyContract,
  type CompiledAction,
  type CompiledContract,
  type CompiledEvent,
  compile,
  type EventKey,
  type EventPayloadOut,
  type SchemaInput,
} from './contract.ts';
import type { ServiceContext } from './service-context.ts';

/** Serves one action: receives the params as the schema outputs them, returns what the result schema accepts. */
export type ActionHandler<S extends ActionSpec> = (
  params: SchemaOutput<S['params']>,
  ctx: ServiceContext,
) => SchemaInput<S['result']> | Promise<SchemaInput<S['result']>>;

/** Receives one event's payload; a throw is reported (`keel:broker.unhandled`), there is no caller. */
export type EventHandler<P> = (payload: P, ctx: ServiceContext) => unknown;

export interface ServiceImplementation<C extends AnyContract, L extends AnyContract> {
  /** A handler for every action of the contract. */
  readonly actions: { readonly [K in keyof C['actions']]: ActionHandler<C['actions'][K]> };
  /** Contracts whose events this service listens to, besides its own. */
  readonly listens?: readonly L[] | undefined;
  /** Listeners by `<contract>.<event>`: one instance of this service gets each emitted event. */
  readonly events?: { readonly [K in EventKey<C | L>]?: EventHandler<EventPayloadOut<C | L, K>> } | undefined;
}

/** Limits of one action on the serving side. */
export interface ActionOptions {
  /** How many calls of the action this instance runs at once. @default Infinity */
  readonly concurrency?: number | undefined;
  /** How many calls wait for a turn past `concurrency`; more are refused at once (retryable). @default Infinity */
  readonly maxQueued?: number | undefined;
  /** The longest a call of the action may run here, whatever budget its caller gave. @default no cap */
  readonly timeoutMs?: number | undefined;
}

export interface ServiceOptions<C extends AnyContract> {
  readonly actions?: { readonly [K in keyof C['actions']]?: ActionOptions } | undefined;
  /** Whether errors thrown by the handlers carry their stack to the caller. @default false */
  readonly exposeStack?: boolean | undefined;
}

/** A service, as `defineService` returns it: give it to `createBroker({ services })`. */
export interface Service<C extends AnyContract = AnyContract> {
  readonly contract: C;
}

/** What the broker reads from a service, computed once. */
export interface CompiledService {
  readonly contract: CompiledContract;
  readonly exposeStack: boolean;
  readonly actions: ReadonlyMap<string, ServedAction>;
  readonly events: ReadonlyMap<string, ListenedEvent>;
}

export interface ServedAction {
  readonly action: CompiledAction;
  readonly handler: (params: any, ctx: ServiceContext) => unknown;
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly timeoutMs: number;
  readonly exposeStack: boolean;
}

export interface ListenedEvent {
  readonly event: CompiledEvent;
  readonly handler: (payload: unknown, ctx: ServiceContext) => unknown;
}

const compiledServices = new WeakMap<Service, CompiledService>();
const actionOptionKeys = ['concurrency', 'maxQueued', 'timeoutMs'] as const;

/**
 * Implements `contract`. Every action needs a handler whose params and result match the contract's
 * schemas (the compiler checks); listeners are keyed by `<contract>.<event>`, for the contract's own
 * events or those of the contracts in `listens`.
 * @throws InvalidArgumentError naming a missing handler, an unknown event or a bad option.
 */
export function defineService<C extends AnyContract, const L extends AnyContract = never>(
  contract: C,
  implementation: ServiceImplementation<C, L>,
  options?: ServiceOptions<C>,
): Service<C> {
  const compiled = compile('defineService() contract', contract);
  const label = `defineService(${compiled.name} v${compiled.major})`;
  if (typeof implementation !== 'object' || implementation === null) {
    throw new InvalidArgumentError(
      `${label} implementation must be { actions, events? }; received ${describe(implementation)}`,
    );
  }
  checkOptions(`${label} options`, options, ['actions', 'exposeStack']);
  const exposeStack = options?.exposeStack ?? false;
  if (typeof exposeStack !== 'boolean') {
    throw new InvalidArgumentError(
      `${label} exposeStack must be a boolean; received ${describe(exposeStack)}`,
    );
  }
  const handlers = (implementation.actions ?? {}) as Record<string, unknown>;
  const limits = (options?.actions ?? {}) as Record<string, ActionOptions | undefined>;
  checkOptions(`${label} options.actions`, limits, [...compiled.actions.keys()]);
  for (const name of Object.keys(handlers)) {
    if (!compiled.actions.has(name)) {
      throw new InvalidArgumentError(`${label}: the contract has no action ${describe(name)}`);
    }
  }
  const actions = new Map<string, ServedAction>();
  for (const [name, action] of compiled.actions) {
    const handler = Object.hasOwn(handlers, name) ? handlers[name] : undefined;
    checkFunction(`${label} handler of ${describe(name)}`, handler);
    const limit = limits[name];
    const at = `${label} options of ${describe(name)}`;
    checkOptions(at, limit, actionOptionKeys);
    actions.set(name, {
      action,
      handler: handler as ServedAction['handler'],
      concurrency: checkCount(`${at}: concurrency`, limit?.concurrency ?? Number.POSITIVE_INFINITY, {
        allowInfinity: true,
      }),
      maxQueued: checkCount(`${at}: maxQueued`, limit?.maxQueued ?? Number.POSITIVE_INFINITY, {
        min: 0,
        allowInfinity: true,
      }),
      timeoutMs: checkDuration(`${at}: timeoutMs`, limit?.timeoutMs ?? Number.POSITIVE_INFINITY, { min: 1 }),
      exposeStack,
    });
  }
  const contracts = new Map<string, CompiledContract>([[compiled.name, compiled]]);
  for (const other of implementation.listens ?? []) {
    const c = compile(`${label} listens`, other);
    const seen = contracts.get(c.name);
    if (seen !== undefined && seen !== c) {
      throw new InvalidArgumentError(
        `${label} listens: two contracts are named ${describe(c.name)}; listen to one major`,
      );
    }
    contracts.set(c.name, c);
  }
  const events = new Map<string, ListenedEvent>();
  for (const [key, handler] of Object.entries((implementation.events ?? {}) as Record<string, unknown>)) {
    const dot = key.indexOf('.');
    const event = contracts.get(key.slice(0, dot))?.events.get(key.slice(dot + 1));
    if (dot < 0 || event === undefined) {
      throw new InvalidArgumentError(
        `${label} events: ${describe(key)} is not an event of this contract or of one it listens to (write <contract>.<event>)`,
      );
    }
    checkFunction(`${label} listener of ${describe(key)}`, handler);
    events.set(key, { event, handler: handler as ListenedEvent['handler'] });
  }
  const service: Service<C> = Object.freeze({ contract });
  compiledServices.set(service, { contract: compiled, exposeStack, actions, events });
  return service;
}

/** The compiled form of a service made by `defineService`. @throws InvalidArgumentError for anything else. */
export function compileService(label: string, service: unknown): CompiledService {
  const found = compiledServices.get(service as Service);
  if (found === undefined) {
    throw new InvalidArgumentError(
      `${label} must be a service made by defineService(); received ${describe(service)}`,
    );
  }
  return found;
}
