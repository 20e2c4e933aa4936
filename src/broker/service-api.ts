/**
 * The NATS Service API (ADR-32) as Keel speaks it: control subjects, response types, and pure functions
 * that build the PING, INFO and STATS responses and read STATS responses back. No behaviour lives here.
 *
 * - `$SRV.<VERB>` reaches every service, `$SRV.<VERB>.<name>` every instance of one service,
 *   `$SRV.<VERB>.<name>.<id>` one instance; VERB is PING, INFO or STATS; the request body is empty.
 * - A Keel service is one contract major served by one broker: name = the contract's name, version = the
 *   contract's version as semver (`2` → `2.0.0`; a version string that is not strict semver → `<major>.0.0`),
 *   id = random per broker and service, metadata `keel.node_id` and `keel.contract_version`.
 * - One endpoint per action: name = the action, subject `<name>.v<major>.<action>`, queue group
 *   `<name>.v<major>`; its stats are the serving side's counters of `broker.metrics()`.
 */
import { describe } from '../errors.ts';
import type { Decoded } from './wire.ts';

export const serviceApiPrefix = '$SRV';

export const serviceVerbs = ['PING', 'INFO', 'STATS'] as const;
export type ServiceVerb = (typeof serviceVerbs)[number];

export const responseTypes = {
  PING: 'io.nats.micro.v1.ping_response',
  INFO: 'io.nats.micro.v1.info_response',
  STATS: 'io.nats.micro.v1.stats_response',
} as const satisfies Record<ServiceVerb, string>;

/** Service, endpoint names and ids: what may stand as one subject token. */
export const serviceNamePattern = /^[A-Za-z0-9_-]+$/;

/** Semantic versioning 2.0.0, as ADR-32's schemas require of `version`. */
export const semverPattern =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** `$SRV.<verb>`, `$SRV.<verb>.<name>` or `$SRV.<verb>.<name>.<id>`. */
export function controlSubject(verb: ServiceVerb, name?: string, id?: string): string {
  if (name === undefined) return `${serviceApiPrefix}.${verb}`;
  return id === undefined
    ? `${serviceApiPrefix}.${verb}.${name}`
    : `${serviceApiPrefix}.${verb}.${name}.${id}`;
}

/** The version a contract shows as a service: semver as given, or `<major>.0.0`. */
export function serviceVersion(version: number | string, major: number): string {
  return typeof version === 'string' && semverPattern.test(version) ? version : `${major}.0.0`;
}

/** Who answers: the fields every response carries. */
export interface ServiceIdentity {
  readonly name: string;
  readonly id: string;
  readonly version: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface EndpointInfo {
  readonly name: string;
  readonly subject: string;
  readonly queueGroup: string | undefined;
}

/** An endpoint's counters, in the units Keel keeps them (milliseconds). */
export interface EndpointCounters {
  readonly requests: number;
  readonly errors: number;
  /** `''` when there was none. */
  readonly lastError: string;
  readonly processingMs: number;
}

export function encodePing(identity: ServiceIdentity): Record<string, unknown> {
  return { type: responseTypes.PING, ...identityFields(identity) };
}

export function encodeInfo(
  identity: ServiceIdentity,
  description: string,
  endpoints: readonly EndpointInfo[],
): Record<string, unknown> {
  return {
    type: responseTypes.INFO,
    ...identityFields(identity),
    description,
    endpoints: endpoints.map(endpointFields),
  };
}

export function encodeStats(
  identity: ServiceIdentity,
  started: Date,
  endpoints: readonly (EndpointInfo & EndpointCounters)[],
): Record<string, unknown> {
  return {
    type: responseTypes.STATS,
    ...identityFields(identity),
    started: started.toISOString(),
    endpoints: endpoints.map((e) => {
      const total = Math.round(e.processingMs * 1e6);
      return {
        ...endpointFields(e),
        num_requests: e.requests,
        num_errors: e.errors,
        last_error: e.lastError,
        processing_time: total,
        average_processing_time: e.requests === 0 ? 0 : Math.round(total / e.requests),
      };
    }),
  };
}

/** One endpoint of a STATS response, read back. */
export interface EndpointStats extends EndpointInfo {
  readonly requests: number;
  readonly errors: number;
  readonly lastError: string;
  readonly processingTimeNs: number;
  readonly averageProcessingTimeNs: number;
}

export interface StatsResponse extends ServiceIdentity {
  readonly started: string;
  readonly endpoints: readonly EndpointStats[];
}

/** Reads a STATS response, from Keel or any other ADR-32 service. Never throws: anyone may answer. */
export function decodeStats(value: unknown): Decoded<StatsResponse> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return refuse(`it is not a stats response; received ${describe(value)}`);
  }
  const { type, name, id, version, metadata, started, endpoints } = value as Record<string, unknown>;
  if (type !== responseTypes.STATS) {
    return refuse(`its type must be ${JSON.stringify(responseTypes.STATS)}; received ${describe(type)}`);
  }
  if (typeof name !== 'string' || !serviceNamePattern.test(name)) {
    return refuse(`its name must be letters, digits, _ and -; received ${describe(name)}`);
  }
  if (typeof id !== 'string' || id === '')
    return refuse(`its id must be a non-empty string; received ${describe(id)}`);
  if (typeof version !== 'string' || !semverPattern.test(version)) {
    return refuse(`its version must be a semantic version; received ${describe(version)}`);
  }
  if (typeof started !== 'string')
    return refuse(`its started must be a date string; received ${describe(started)}`);
  const meta = readMetadata(metadata);
  if (meta === undefined) return refuse('its metadata must map strings to strings');
  if (!Array.isArray(endpoints))
    return refuse(`its endpoints must be an array; received ${describe(endpoints)}`);
  const read: EndpointStats[] = [];
  for (const [i, endpoint] of endpoints.entries()) {
    const e = (typeof endpoint === 'object' && endpoint !== null ? endpoint : {}) as Record<string, unknown>;
    if (typeof e.name !== 'string' || typeof e.subject !== 'string') {
      return refuse(`its endpoints[${i}] must have a name and a subject`);
    }
    const numbers = [e.num_requests, e.num_errors, e.processing_time, e.average_processing_time];
    if (!numbers.every((n) => typeof n === 'number' && Number.isFinite(n))) {
      return refuse(`its endpoints[${i}] must have numeric num_requests, num_errors and processing times`);
    }
    read.push({
      name: e.name,
      subject: e.subject,
      queueGroup: typeof e.queue_group === 'string' ? e.queue_group : undefined,
      requests: e.num_requests as number,
      errors: e.num_errors as number,
      lastError: typeof e.last_error === 'string' ? e.last_error : '',
      processingTimeNs: e.processing_time as number,
      averageProcessingTimeNs: e.average_processing_time as number,
    });
  }
  return { ok: true, value: { name, id, version, metadata: meta, started, endpoints: read } };
}

function identityFields(identity: ServiceIdentity): Record<string, unknown> {
  return { name: identity.name, id: identity.id, version: identity.version, metadata: identity.metadata };
}

function endpointFields(endpoint: EndpointInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { name: endpoint.name, subject: endpoint.subject };
  if (endpoint.queueGroup !== undefined) out.queue_group = endpoint.queueGroup;
  return out;
}

/** A metadata map (absent or null reads as empty); undefined when it is not one. */
function readMetadata(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out = Object.create(null) as Record<string, string>;
  for (const [key, text] of Object.entries(value)) {
    if (typeof text !== 'string') return undefined;
    out[key] = text;
  }
  return out;
}

function refuse(reason: string): { readonly ok: false; readonly reason: string } {
  return { ok: false, reason };
}
