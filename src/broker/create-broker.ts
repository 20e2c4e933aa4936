/** createBroker: checks the options once, opens (or takes) the transport, and starts a Broker on it. */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Container } from '../container/index.ts';
import { checkDuration, checkOptions, describe, InvalidArgumentError } from '../errors.ts';
import { openTransport, type Transport } from '../transport/index.ts';
import { Broker } from './broker.ts';
import { BrokerTransportError } from './broker-errors.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { type AnyContract, compile } from './contract.ts';
import type { BreakerSettings } from './invoker.ts';
import { compileService, type Service } from './service.ts';
import { loadOpenTelemetry, Tracing } from './tracing.ts';

export interface BrokerOptions {
  /** `memory://[name]`, `nats://host:port`, or an open Transport (the broker then leaves it open on stop). */
  readonly transport: string | URL | Transport;
  /** The services this broker serves. */
  readonly services?: readonly Service[] | undefined;
  /** Contracts this broker calls without serving them (so `broker.call` and `broker.emit` know them). */
  readonly contracts?: readonly AnyContract[] | undefined;
  /** Each served call runs in a scope of this container (`ctx.scope`), disposed when the call ends. */
  readonly container?: Container | undefined;
  /** This broker's id, sent with calls and errors. @default `<host>-<pid>-<random>` */
  readonly nodeId?: string | undefined;
  /** The budget of a call given no `timeoutMs`. @default 10000 */
  readonly defaultTimeoutMs?: number | undefined;
  /** How deep calls may nest (a handler calling a handler calling …). @default 16 */
  readonly maxCallDepth?: number | undefined;
  /** Whether a call to an action this broker serves skips the transport. @default true */
  readonly preferLocal?: boolean | undefined;
  /**
   * The settings of this broker's circuit breakers, one per action it calls (failureRate, minimumCalls,
   * windowMs, openMs, isFailure, onStateChange), or `false` for none. @default the CircuitBreaker defaults
   */
  readonly circuitBreaker?: BreakerSettings | false | undefined;
  /**
   * Whether calls and events carry W3C trace context (`traceparent`) and, with an OpenTelemetry SDK
   * registered, make spans. `false` reads and sends no trace context and makes no span. @default true
   */
  readonly tracing?: boolean | undefined;
}

type ContractsOf<S> = S extends Service<infer C> ? C : never;

const optionKeys = [
  'transport',
  'services',
  'contracts',
  'container',
  'nodeId',
  'defaultTimeoutMs',
  'maxCallDepth',
  'preferLocal',
  'circuitBreaker',
  'tracing',
] as const;
const nodeIdPattern = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Opens (or takes) the transport, joins the queue groups of every service's actions and events, and
 * resolves once the engine has them: the broker is then `ready`.
 * @throws BrokerTransportError for `redis://` (no queue groups); InvalidArgumentError for bad options.
 */
export async function createBroker<
  const S extends readonly Service[] = [],
  const K extends readonly AnyContract[] = [],
>(
  options: BrokerOptions & { readonly services?: S | undefined; readonly contracts?: K | undefined },
): Promise<Broker<ContractsOf<S[number]> | K[number]>> {
  checkOptions('createBroker() options', options, optionKeys);
  if (options === undefined)
    throw new InvalidArgumentError('createBroker() options must be given, with a transport');
  const transportOption = options.transport;
  const owned = typeof transportOption === 'string' || transportOption instanceof URL;
  if (owned) {
    const url = String(transportOption);
    if (/^rediss?:/i.test(url)) throw redisRefusal();
  } else if (
    typeof transportOption !== 'object' ||
    transportOption === null ||
    typeof (transportOption as Transport).request !== 'function'
  ) {
    throw new InvalidArgumentError(
      `createBroker() transport must be a URL (memory://, nats://) or a Transport; received ${describe(transportOption)}`,
    );
  } else if ((transportOption as Transport).kind === 'redis') throw redisRefusal();
  const services = (options.services ?? []).map((s, i) => compileService(`createBroker() services[${i}]`, s));
  const contracts = (options.contracts ?? []).map((c, i) => compile(`createBroker() contracts[${i}]`, c));
  const nodeId = options.nodeId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  if (typeof nodeId !== 'string' || !nodeIdPattern.test(nodeId)) {
    throw new InvalidArgumentError(
      `createBroker() nodeId must be 1 to 128 letters, digits and _.:-; received ${describe(nodeId)}`,
    );
  }
  const defaultTimeoutMs = checkDuration(
    'createBroker() defaultTimeoutMs',
    options.defaultTimeoutMs ?? 10_000,
    {
      min: 1,
      allowInfinity: false,
    },
  );
  const maxCallDepth = options.maxCallDepth ?? 16;
  if (!Number.isSafeInteger(maxCallDepth) || maxCallDepth < 1) {
    throw new InvalidArgumentError(
      `createBroker() maxCallDepth must be an integer ≥ 1; received ${describe(maxCallDepth)}`,
    );
  }
  const preferLocal = options.preferLocal ?? true;
  if (typeof preferLocal !== 'boolean') {
    throw new InvalidArgumentError(
      `createBroker() preferLocal must be a boolean; received ${describe(preferLocal)}`,
    );
  }
  const breaker = options.circuitBreaker ?? {};
  if (breaker !== false) {
    // Checked now, by the breaker itself, rather than at the first call.
    new CircuitBreaker({ ...breaker, name: 'check' });
  }
  const tracingOn = options.tracing ?? true;
  if (typeof tracingOn !== 'boolean') {
    throw new InvalidArgumentError(
      `createBroker() tracing must be a boolean; received ${describe(tracingOn)}`,
    );
  }
  // The optional @opentelemetry/api is imported here, once per process, never by `import 'keel'`.
  const tracing = tracingOn ? new Tracing(await loadOpenTelemetry()) : Tracing.off;
  const transport = owned ? await openTransport(transportOption) : (transportOption as Transport);
  const broker = new Broker<ContractsOf<S[number]> | K[number]>({
    transport,
    owned,
    services,
    contracts,
    container: options.container,
    nodeId,
    defaultTimeoutMs,
    maxCallDepth,
    preferLocal,
    breaker,
    tracing,
  });
  try {
    await broker.start();
  } catch (error) {
    await broker.stop({ timeoutMs: 1000 }).catch(() => {});
    throw error;
  }
  return broker;
}

function redisRefusal(): BrokerTransportError {
  return new BrokerTransportError(
    'The broker cannot run on redis://: Redis pub/sub has no queue groups, so every instance of a service would serve every call. Use nats:// (or memory:// in one process); Redis stays right for jobs (openQueue).',
  );
}
