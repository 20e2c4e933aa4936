/** Discovery: a broker's services answer the NATS Service API ($SRV), and `services()` gathers every instance's answer. */
import { randomBytes } from 'node:crypto';
import type { Transport, TransportSubscription } from '../transport/index.ts';
import type { CompiledAction } from './contract.ts';
import type { Meters } from './metrics.ts';
import type { CompiledService } from './service.ts';
import {
  controlSubject,
  decodeStats,
  type EndpointInfo,
  type EndpointStats,
  encodeInfo,
  encodePing,
  encodeStats,
  type ServiceIdentity,
  type ServiceVerb,
  serviceVerbs,
  serviceVersion,
} from './service-api.ts';

/** One live instance of a service, as `broker.services()` lists it. */
export interface ServiceInstance {
  /** The service's name (a Keel contract's name). */
  readonly name: string;
  /** Its version, as semver (a Keel contract's version; see docs/services.md for the mapping). */
  readonly version: string;
  /** The instance's id in the NATS Service API (random, one per broker and service). */
  readonly id: string;
  /** The broker serving it; undefined for a service that Keel does not run. */
  readonly nodeId: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  /** When the instance started, as an ISO 8601 string. */
  readonly started: string;
  /** Its endpoints (a Keel service's actions), each with the subject it answers on and its stats. */
  readonly actions: readonly EndpointStats[];
}

/** The metadata key that carries the serving broker's nodeId. */
export const nodeIdKey = 'keel.node_id';

interface Served {
  readonly identity: ServiceIdentity;
  readonly endpoints: readonly EndpointInfo[];
  /** The actions behind the endpoints, in the same order: where their stats come from. */
  readonly actions: readonly CompiledAction[];
}

export class Discovery {
  readonly #transport: Transport;
  readonly #meters: Meters;
  readonly #served: readonly Served[];
  #subscriptions: TransportSubscription[] = [];
  /** Set by start(): the protocol reports when each instance began serving. */
  #started: Date | undefined;

  constructor(transport: Transport, nodeId: string, services: readonly CompiledService[], meters: Meters) {
    this.#transport = transport;
    this.#meters = meters;
    this.#served = services.map((service) => {
      const { contract } = service;
      const actions = [...service.actions.values()].map((served) => served.action);
      return {
        actions,
        identity: {
          name: contract.name,
          id: randomBytes(11).toString('hex'),
          version: serviceVersion(contract.version, contract.major),
          metadata: Object.freeze({ [nodeIdKey]: nodeId, 'keel.contract_version': String(contract.version) }),
        },
        endpoints: actions.map((action) => ({
          name: action.name,
          subject: action.subject,
          queueGroup: contract.group,
        })),
      };
    });
  }

  /** Answers `$SRV.PING|INFO|STATS` (all, by name, by name and id) for every service; resolves once subscribed. */
  async start(): Promise<void> {
    this.#started = new Date();
    for (const served of this.#served) {
      const { name, id } = served.identity;
      for (const verb of serviceVerbs) {
        const answer = () => this.#answer(verb, served);
        for (const subject of [
          controlSubject(verb),
          controlSubject(verb, name),
          controlSubject(verb, name, id),
        ]) {
          this.#subscriptions.push(this.#transport.subscribe(subject, answer));
        }
      }
    }
    await Promise.all(this.#subscriptions.map((s) => s.ready));
  }

  /** Stops answering: a departing instance is no longer listed. Idempotent. */
  leave(): void {
    for (const unsubscribe of this.#subscriptions) unsubscribe();
    this.#subscriptions = [];
  }

  #answer(verb: ServiceVerb, served: Served): Record<string, unknown> {
    if (verb === 'PING') return encodePing(served.identity);
    if (verb === 'INFO') return encodeInfo(served.identity, '', served.endpoints);
    return encodeStats(
      served.identity,
      this.#started ?? new Date(),
      served.actions.map((action, i) => {
        const meter = this.#meters.serving(action);
        return {
          ...(served.endpoints[i] as EndpointInfo),
          requests: meter.calls,
          errors: meter.errors,
          lastError: meter.lastError,
          processingMs: meter.sumMs,
        };
      }),
    );
  }
}

/**
 * Asks every service instance reachable on `transport` for its stats (`$SRV.STATS[.<name>]`) and lists
 * those that answered in time with a valid response, sorted by name, version and id.
 */
export async function gatherServices(
  transport: Transport,
  options: {
    readonly name: string | undefined;
    readonly timeoutMs: number;
    readonly stallMs: number;
    readonly signal: AbortSignal | undefined;
  },
): Promise<ServiceInstance[]> {
  const replies = await transport.requestMany(controlSubject('STATS', options.name), undefined, {
    timeoutMs: options.timeoutMs,
    stallMs: options.stallMs,
    signal: options.signal,
  });
  const instances: ServiceInstance[] = [];
  for (const reply of replies) {
    if (!reply.ok) continue;
    const decoded = decodeStats(reply.value);
    if (!decoded.ok) continue;
    const { name, version, id, metadata, started, endpoints } = decoded.value;
    instances.push({ name, version, id, nodeId: metadata[nodeIdKey], metadata, started, actions: endpoints });
  }
  return instances.sort(
    (a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version) || a.id.localeCompare(b.id),
  );
}
