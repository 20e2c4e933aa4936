/**
 * keelGateway: the Fastify plugin that serves routes through the broker — one error shape, request ids,
 * trace context passed on, X-Served-By, idempotency keys, security headers, OpenAPI and /docs.
 */

import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { onAbort, raceAbort } from '../abort.ts';
import { callResolved, defaultRetries, type ResolvedCall } from '../broker/call-options.ts';
import type { Broker } from '../broker/index.ts';
import { isTraceparent, type TraceLink } from '../broker/tracing.ts';
import { checkDuration, checkOptions, describe, InvalidArgumentError } from '../errors.ts';
import {
  errorBody,
  GatewayRequestError,
  GatewayRequestGoneError,
  type HttpError,
  toHttpError,
} from './http-errors.ts';
import {
  type IdempotencyClaim,
  type IdempotencyStore,
  MemoryIdempotencyStore,
  type StoredResponse,
} from './idempotency.ts';
import { buildOpenApi, idempotent, type OpenApiOptions } from './openapi.ts';
import { randomRequestId, uuidOf } from './random-ids.ts';
import type { Route, RouteRequest } from './route.ts';

/** Idempotency-Key handling. */
export interface IdempotencyOptions {
  /** Where keys live. @default a MemoryIdempotencyStore (this process only) */
  readonly store?: IdempotencyStore | undefined;
  /** How long a first response is kept for repeats. @default 86400000 (24 h) */
  readonly ttlMs?: number | undefined;
  /**
   * How long a repeat that arrives while the first request still runs waits for its answer before it is
   * told 409. A first request whose gateway died holds its key until its lease lapses (its route's
   * deadline and a second more); a repeat waiting that long then runs the request itself.
   * @default the lease
   */
  readonly waitMs?: number | undefined;
}

/** Cross-origin requests: off unless given. */
export interface CorsOptions {
  /** The origins allowed (`https://app.example.com`); exact matches only. */
  readonly origins: readonly string[];
  /** How long a browser may keep a preflight's answer, in seconds. @default 600 */
  readonly maxAgeS?: number | undefined;
}

export interface GatewayOptions {
  /** The broker the gateway calls through. */
  readonly broker: Broker<any>;
  /** The routes, made by `route()`. */
  readonly routes: readonly Route[];
  /** This gateway's id in `X-Served-By`. @default the broker's nodeId */
  readonly instanceId?: string | undefined;
  /** `/openapi.json` (OpenAPI 3.1) and `/docs`; `false` serves neither. @default { title: 'API', version: '1.0.0' } */
  readonly openapi?: OpenApiOptions | false | undefined;
  /** Idempotency-Key on POST and PATCH routes; `false` ignores the header. @default in memory, 24 h */
  readonly idempotency?: IdempotencyOptions | false | undefined;
  /** Cross-origin requests. @default off */
  readonly cors?: CorsOptions | undefined;
}

const optionKeys = ['broker', 'routes', 'instanceId', 'openapi', 'idempotency', 'cors'] as const;

/** A sane request id: bounded, and only characters that are safe in logs and headers. */
const requestIdPattern = /^[A-Za-z0-9._~:@+=/-]{1,128}$/;
/** W3C trace context: version 00 as written today; other versions are passed on when they look the same. */
const traceparentLength = 55;
// Printable ASCII, no space at either end (a transport would trim it).
const tracestatePattern = /^[\x21-\x7e](?:[\x20-\x7e]{0,510}[\x21-\x7e])?$/;
/** An Idempotency-Key: a token or a quoted string (the draft's sf-string) of up to 200 visible characters. */
const idempotencyKeyPattern = /^"?([\x21\x23-\x7e]{1,200})"?$/;
/** The response headers a repeat gets back besides the body and status. */
const replayedHeaders = ['content-type', 'location', 'etag', 'last-modified', 'link', 'cache-control'];

const apiCsp = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const docsCsp =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'none'";
const docsPrefix = '/docs';

/** How deep a request body may nest (objects and arrays within each other). */
const maxDepth = 64;
const tooDeep = new GatewayRequestError(
  'KEEL_GATEWAY_TOO_DEEP',
  400,
  `The body nests deeper than ${maxDepth} levels of objects and arrays`,
);

/** Whether `value` nests no deeper than `depth` levels of objects and arrays; stops at the first too deep. */
function nestedWithin(value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (depth === 0) return false;
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    if (!nestedWithin(item, depth - 1)) return false;
  }
  return true;
}

/** What the gateway keeps of one request. */
interface RequestState {
  readonly id: string;
  claim?: { readonly key: string; readonly claim: IdempotencyClaim; readonly ttlMs: number } | undefined;
  nodeId?: string | undefined;
}

// Kept on the request objects under symbols rather than in WeakMaps: every request would add an entry
// that the garbage collector must trace as an ephemeron.
const stateKey = Symbol('keel.gateway.state');
const madeIdKey = Symbol('keel.gateway.requestId');
type WithState = { [stateKey]?: RequestState };
type WithMadeId = { [madeIdKey]?: string };

/** What the gateway keeps of `request`, set by its onRequest hook. */
function stateOf(request: FastifyRequest): RequestState | undefined {
  return (request as FastifyRequest & WithState)[stateKey];
}

/**
 * A Fastify `genReqId`: the request's `X-Request-Id` when sane, else a new UUID. Given to Fastify, the id
 * of its log lines is the id the gateway echoes and passes on; the plugin works without it too.
 */
export function requestIdOf(raw: IncomingMessage): string {
  return requestIdFrom(raw, undefined);
}

/** `requestIdOf`, a new id made of `randomHex` (32 random hex digits) when given. */
export function requestIdFrom(raw: IncomingMessage, randomHex: string | undefined): string {
  const header = raw.headers['x-request-id'];
  const id =
    typeof header === 'string' && requestIdPattern.test(header)
      ? header
      : randomHex === undefined
        ? randomRequestId()
        : uuidOf(randomHex);
  (raw as IncomingMessage & WithMadeId)[madeIdKey] = id;
  return id;
}

async function gateway(app: FastifyInstance, options: GatewayOptions): Promise<void> {
  const settings = check(options);
  const { broker, routes, instanceId, store, ttlMs, cors } = settings;

  app.addHook('onRequest', (request, reply, done) => {
    const id = (request.raw as IncomingMessage & WithMadeId)[madeIdKey] ?? requestIdOf(request.raw);
    (request as FastifyRequest & WithState)[stateKey] = { id };
    reply.header('x-request-id', id);
    reply.header('x-served-by', instanceId);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-resource-policy', 'same-origin');
    const path = request.url;
    const docs = path === docsPrefix || path.startsWith(`${docsPrefix}/`);
    reply.header('content-security-policy', docs ? docsCsp : apiCsp);
    if (cors !== undefined) corsHeaders(cors, request, reply);
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const answer = toHttpError(error);
    const node = (error as { nodeId?: unknown }).nodeId;
    if (typeof node === 'string') reply.header('x-served-by', servedBy(instanceId, node));
    if (answer.internal) request.log.error({ err: error }, 'request failed');
    sendError(reply, answer);
  });
  app.setNotFoundHandler((request, reply) => {
    if (cors !== undefined && request.method === 'OPTIONS' && request.headers.origin !== undefined) {
      reply.code(204).send();
      return;
    }
    reply
      .code(404)
      .send(errorBody('KEEL_GATEWAY_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`));
  });

  // The last X-Served-By made: nearly every call is answered by the same broker (this one, for a local call).
  let lastNode: string | undefined;
  let lastServedBy = instanceId;
  const served = (nodeId: string): string => {
    if (nodeId !== lastNode) {
      lastServedBy = servedBy(instanceId, nodeId);
      lastNode = nodeId;
    }
    return lastServedBy;
  };

  for (const route of routes) {
    const idempotentRoute = store !== undefined && idempotent(route);
    const { timeoutMs, attemptTimeoutMs } = route;
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const state = stateOf(request) as RequestState;
      const req = request as RouteRequest;
      // A body nested past any sane API shape would overflow the serializer's stack: refused up front.
      if (!nestedWithin(request.body, maxDepth)) throw tooDeep;
      const params = route.input === undefined ? defaultInput(route, req) : route.input(req);
      let key: string | undefined;
      if (idempotentRoute) {
        key = idempotencyKey(request);
        if (key !== undefined) {
          const leaseMs = settings.leaseMs(route);
          const replay = await claim(
            store as IdempotencyStore,
            route,
            request,
            key,
            state,
            ttlMs,
            leaseMs,
            settings.waitMs ?? leaseMs,
          );
          if (replay !== undefined) return replay(reply);
        }
      }
      // The call's options, made here from parts checked before: the route's deadlines at registration
      // (check), the request id and the key by their patterns, the trace context by the broker's own
      // parser. So the broker takes them as they are, without checking each again on every request.
      const gone = goneSignal(request, reply);
      const call: ResolvedCall = {
        timeoutMs,
        attemptTimeoutMs,
        signal: gone.signal,
        retries: defaultRetries,
        idempotencyKey: key,
        meta: requestMeta(state.id),
        trace: traceOfRequest(request),
        onServed: (node: string) => {
          state.nodeId = node;
        },
      };
      let result: unknown;
      try {
        result = await broker[callResolved](route.action, params, call);
      } finally {
        gone.done?.();
      }
      if (state.nodeId !== undefined) reply.header('x-served-by', served(state.nodeId));
      reply.code(route.status);
      const body = route.reply === undefined ? result : await route.reply(result, reply, req);
      // A reply callback may have sent the answer itself (a stream, say).
      return reply.sent ? reply : reply.send(body);
    };
    app.route({
      method: route.method,
      url: route.url,
      handler,
      ...(store !== undefined && idempotent(route)
        ? {
            // Callback style: a response without a claimed key (most) goes on at once, with no promise.
            onSend: (
              request: FastifyRequest,
              reply: FastifyReply,
              payload: unknown,
              done: (error: Error | null, payload?: unknown) => void,
            ) => {
              if (stateOf(request)?.claim === undefined) {
                done(null, payload);
                return;
              }
              keep(store, request, reply, payload).then((kept) => done(null, kept), done);
            },
          }
        : {}),
    });
  }

  if (cors !== undefined) {
    // A preflight for a known route: Fastify would answer 404 without an OPTIONS route.
    for (const url of new Set(routes.map((r) => r.url))) {
      app.options(url, (_request, reply) => {
        reply.code(204).send();
      });
    }
  }

  if (settings.openapi !== false) {
    const document = buildOpenApi(routes, settings.openapi);
    app.get('/openapi.json', (_request, reply) => {
      reply.send(document);
    });
    await docsPage(app, document);
  }
}

/** The plugin: `await app.register(keelGateway, { broker, routes })`. Its hooks and error handler apply app-wide. */
export const keelGateway = fp(gateway, { name: 'keel-gateway', fastify: '5.x' });

interface Settings {
  readonly broker: Broker<any>;
  readonly routes: readonly Route[];
  readonly instanceId: string;
  readonly openapi: OpenApiOptions | false;
  readonly store: IdempotencyStore | undefined;
  readonly ttlMs: number;
  readonly cors: CorsOptions | undefined;
  /** How long a claim holds a key while the first request runs: its deadline and a second more. */
  readonly leaseMs: (route: Route) => number;
  /** How long a repeat waits for a first request still running; the lease when undefined. */
  readonly waitMs: number | undefined;
}

function check(options: GatewayOptions): Settings {
  const label = 'keelGateway options';
  // Fastify hands a plugin its register options too (prefix, logLevel); they are Fastify's business.
  checkOptions(label, options, [...optionKeys, 'prefix', 'logLevel', 'logSerializers']);
  if (options === undefined) throw new InvalidArgumentError(`${label} must be { broker, routes, ... }`);
  const { broker, routes } = options;
  if (typeof (broker as { [callResolved]?: unknown } | undefined)?.[callResolved] !== 'function') {
    throw new InvalidArgumentError(
      `${label} broker must be a Broker (from createBroker); received ${describe(broker)}`,
    );
  }
  if (!Array.isArray(routes) || !routes.every((r) => typeof r === 'object' && r !== null && 'action' in r)) {
    throw new InvalidArgumentError(
      `${label} routes must be an array of route() values; received ${describe(routes)}`,
    );
  }
  const seen = new Set<string>();
  for (const r of routes) {
    const id = `${r.method} ${r.url}`;
    if (seen.has(id)) throw new InvalidArgumentError(`${label} routes: ${id} is given twice`);
    seen.add(id);
    // route() checked them; checked again here, once, because the broker takes them from the gateway
    // without its own per-call check, and a route may have been made or changed by hand.
    for (const field of ['timeoutMs', 'attemptTimeoutMs'] as const) {
      if (r[field] !== undefined) {
        checkDuration(`${label} routes (${id}) ${field}`, r[field], { min: 1, allowInfinity: false });
      }
    }
  }
  const instanceId = options.instanceId ?? broker.nodeId;
  if (typeof instanceId !== 'string' || !requestIdPattern.test(instanceId)) {
    throw new InvalidArgumentError(
      `${label} instanceId must be 1 to 128 of A-Z a-z 0-9 . _ ~ : @ + = / -; received ${describe(instanceId)}`,
    );
  }
  let openapi: OpenApiOptions | false = { title: 'API', version: '1.0.0' };
  if (options.openapi === false) openapi = false;
  else if (options.openapi !== undefined) {
    checkOptions(`${label} openapi`, options.openapi, ['title', 'version', 'description']);
    for (const field of ['title', 'version'] as const) {
      if (typeof options.openapi[field] !== 'string') {
        throw new InvalidArgumentError(
          `${label} openapi.${field} must be a string; received ${describe(options.openapi[field])}`,
        );
      }
    }
    openapi = options.openapi;
  }
  let store: IdempotencyStore | undefined;
  let ttlMs = 86_400_000;
  let waitMs: number | undefined;
  if (options.idempotency !== false) {
    checkOptions(`${label} idempotency`, options.idempotency, ['store', 'ttlMs', 'waitMs']);
    if (options.idempotency?.waitMs !== undefined) {
      waitMs = checkDuration(`${label} idempotency.waitMs`, options.idempotency.waitMs, {
        allowInfinity: false,
      });
    }
    const given = options.idempotency?.store;
    if (given !== undefined && typeof (given as { begin?: unknown }).begin !== 'function') {
      throw new InvalidArgumentError(
        `${label} idempotency.store must be an IdempotencyStore; received ${describe(given)}`,
      );
    }
    store = given ?? new MemoryIdempotencyStore();
    ttlMs = checkDuration(`${label} idempotency.ttlMs`, options.idempotency?.ttlMs ?? ttlMs, {
      min: 1,
      allowInfinity: false,
    });
  }
  let cors: CorsOptions | undefined;
  if (options.cors !== undefined) {
    checkOptions(`${label} cors`, options.cors, ['origins', 'maxAgeS']);
    const { origins } = options.cors;
    if (
      !Array.isArray(origins) ||
      !origins.every((o) => typeof o === 'string' && /^https?:\/\/[^/\s]+$/.test(o))
    ) {
      throw new InvalidArgumentError(
        `${label} cors.origins must be an array of origins (https://host[:port]); received ${describe(origins)}`,
      );
    }
    cors = {
      origins,
      maxAgeS: checkDuration(`${label} cors.maxAgeS`, options.cors.maxAgeS ?? 600, { allowInfinity: false }),
    };
  }
  return {
    broker,
    routes,
    instanceId,
    openapi,
    store,
    ttlMs,
    cors,
    leaseMs: (route) => (route.timeoutMs ?? broker.defaultTimeoutMs) + 1000,
    waitMs,
  };
}

const traceKey = Symbol('keel.gateway.trace');
type WithTrace = { [traceKey]?: TraceLink };

/**
 * Marks `traceparent` as made for this request by the gateway itself (createGateway starts a trace for a
 * request that brings none), so the plugin passes it on without parsing it again.
 */
export function madeTrace(raw: IncomingMessage, traceparent: string): void {
  (raw as IncomingMessage & WithTrace)[traceKey] = { traceparent, tracestate: undefined, context: undefined };
}

/** The call's meta: the request id, in a frozen object with no prototype, as the broker makes meta. */
function requestMeta(id: string): NonNullable<ResolvedCall['meta']> {
  const meta = Object.create(null) as Record<string, string>;
  meta['x-request-id'] = id;
  return Object.freeze(meta);
}

/** Whether a request's `traceparent` header is one the gateway continues (the broker's parser decides). */
export function isRequestTraceparent(value: unknown): value is string {
  return typeof value === 'string' && value.length === traceparentLength && isTraceparent(value);
}

/** The W3C trace context a request carries on, or undefined when it has none (or a malformed one). */
function traceOfRequest(request: FastifyRequest): TraceLink | undefined {
  const made = (request.raw as IncomingMessage & WithTrace)[traceKey];
  if (made !== undefined) return made;
  const { traceparent, tracestate } = request.headers;
  if (!isRequestTraceparent(traceparent)) return undefined;
  return {
    traceparent,
    tracestate: typeof tracestate === 'string' && tracestatePattern.test(tracestate) ? tracestate : undefined,
    context: undefined,
  };
}

const goneKey = Symbol('keel.gateway.gone');
const keepListening = (): void => {};
type WithGone = { [goneKey]?: AbortController };

/**
 * The signal that aborts a request's call (and the handler's ctx.signal, wherever it runs) when its
 * client goes away. On HTTP/1 that is the connection closing, so the requests of one connection share
 * one controller, made with its first request; an HTTP/2 stream gets its own, and `done` stops watching it.
 */
function goneSignal(
  request: FastifyRequest,
  reply: FastifyReply,
): { readonly signal: AbortSignal; readonly done?: () => void } {
  const socket = request.raw.socket as (IncomingMessage['socket'] & WithGone) | null;
  // A real connection only: `inject()`'s stand-in socket never closes, so its requests watch their replies.
  if (request.raw.httpVersionMajor === 1 && socket instanceof Socket) {
    let gone = socket[goneKey];
    if (gone === undefined) {
      const controller = new AbortController();
      gone = controller;
      socket[goneKey] = controller;
      // A watcher of the connection's own, for as long as it lives: the shared abort listener then stays
      // on the signal between requests, and each call's watch is a set entry, not a listener added and removed.
      onAbort(controller.signal, keepListening);
      if (socket.destroyed) controller.abort(new GatewayRequestGoneError());
      else socket.once('close', () => controller.abort(new GatewayRequestGoneError()));
    }
    return gone;
  }
  const gone = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) gone.abort(new GatewayRequestGoneError());
  };
  reply.raw.on('close', onClose);
  return { signal: gone.signal, done: () => reply.raw.removeListener('close', onClose) };
}

function defaultInput(route: Route, req: RouteRequest): unknown {
  if (route.method === 'GET' || route.method === 'DELETE') return { ...req.query, ...req.params };
  const body = req.body;
  if (body === undefined || body === null) return { ...req.params };
  if (typeof body === 'object' && !Array.isArray(body)) return { ...(body as object), ...req.params };
  return route.pathParams.length === 0 ? body : { ...req.params };
}

function servedBy(instanceId: string, nodeId: string | undefined): string {
  return nodeId === undefined ? instanceId : `${instanceId}, ${nodeId}`;
}

function sendError(reply: FastifyReply, answer: HttpError): void {
  if (answer.retryAfterS !== undefined) reply.header('retry-after', String(answer.retryAfterS));
  // A reply callback may have set a content type for the success it meant to send.
  reply.removeHeader('content-type');
  reply.code(answer.status).send(answer.body);
}

function corsHeaders(cors: CorsOptions, request: FastifyRequest, reply: FastifyReply): void {
  const origin = request.headers.origin;
  reply.header('vary', 'Origin');
  if (origin === undefined || !cors.origins.includes(origin)) return;
  reply.header('access-control-allow-origin', origin);
  reply.header(
    'access-control-expose-headers',
    'X-Request-Id, X-Served-By, Retry-After, Location, Idempotent-Replayed',
  );
  if (request.method === 'OPTIONS') {
    reply.header('access-control-allow-methods', 'GET, POST, PUT, PATCH, DELETE');
    reply.header(
      'access-control-allow-headers',
      'Content-Type, Idempotency-Key, X-Request-Id, traceparent, tracestate',
    );
    reply.header('access-control-max-age', String(cors.maxAgeS));
  }
}

/** The request's Idempotency-Key; a malformed one is refused with 400. */
function idempotencyKey(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return undefined;
  const match = typeof header === 'string' ? idempotencyKeyPattern.exec(header) : null;
  if (match === null) {
    throw new GatewayRequestError(
      'KEEL_GATEWAY_IDEMPOTENCY_KEY',
      400,
      'The Idempotency-Key header must be 1 to 200 visible ASCII characters (optionally in double quotes)',
    );
  }
  return match[1];
}

/** What identifies "the same request" for a key: method, path with query, and the parsed body. */
function fingerprint(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.url}\n`)
    .update(JSON.stringify(request.body ?? null))
    .digest('base64url');
}

/**
 * Claims the key for this request, or answers from what its holder left: the first response (a replay,
 * waited for while the first still runs, up to its lease), 409 when it still runs after that, 422 for
 * the same key with another request.
 */
async function claim(
  store: IdempotencyStore,
  route: Route,
  request: FastifyRequest,
  key: string,
  state: RequestState,
  ttlMs: number,
  leaseMs: number,
  waitMs: number,
): Promise<((reply: FastifyReply) => FastifyReply) | undefined> {
  // Keys are scoped per route: the same key on two routes is two keys.
  const scoped = `${route.method} ${route.url} ${key}`;
  const print = fingerprint(request);
  let found: Awaited<ReturnType<IdempotencyStore['begin']>>;
  // A repeat while the first still runs waits for its answer (or for its claim to lapse, when the
  // gateway that held it died), up to the lease: a retry by a load balancer then gets the first answer.
  const waitUntil = Date.now() + waitMs;
  for (let pause = 25; ; pause = Math.min(pause * 2, 500)) {
    try {
      found = await bounded(store.begin(scoped, print, leaseMs));
    } catch (error) {
      // Without the store, "once" cannot be promised: the request is refused, and a retry may succeed.
      request.log.error({ err: error }, 'idempotency store failed');
      throw new GatewayRequestError(
        'KEEL_GATEWAY_IDEMPOTENCY_STORE',
        503,
        'The request cannot be checked against its Idempotency-Key now; retry later',
        1,
        { cause: error },
      );
    }
    if ('token' in found || found.fingerprint !== print || found.state !== 'running') break;
    if (Date.now() + pause > waitUntil || request.raw.socket.destroyed) break;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  if ('token' in found) {
    state.claim = { key: scoped, claim: found, ttlMs };
    return undefined;
  }
  if (found.fingerprint !== print) {
    throw new GatewayRequestError(
      'KEEL_GATEWAY_IDEMPOTENCY_MISMATCH',
      422,
      'This Idempotency-Key was used before with a different request',
    );
  }
  if (found.state === 'running') {
    throw new GatewayRequestError(
      'KEEL_GATEWAY_IDEMPOTENCY_IN_FLIGHT',
      409,
      'A request with this Idempotency-Key is still running; retry after it finishes',
      1,
    );
  }
  const { response } = found;
  return (reply) => {
    reply.code(response.status);
    for (const [name, value] of Object.entries(response.headers)) reply.header(name, value);
    reply.header('idempotent-replayed', 'true');
    return reply.send(response.body);
  };
}

/**
 * How long one idempotency store call may take. A store that does not answer (a frozen Redis) fails the
 * request's check with a 503, or leaves a first answer unkept (it is still sent), rather than holding the
 * request for as long as the store stays silent.
 */
const storeTimeoutMs = 2000;

function bounded<T>(work: Promise<T>): Promise<T> {
  return raceAbort(work, AbortSignal.timeout(storeTimeoutMs));
}

/** onSend of an idempotent route: keeps the first response under its key, or gives the key up after a 5xx. */
async function keep(
  store: IdempotencyStore,
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
): Promise<unknown> {
  const state = stateOf(request);
  const held = state?.claim;
  if (state === undefined || held === undefined) return payload;
  state.claim = undefined;
  const status = reply.statusCode;
  // A server-side failure (or a client that left, 499) is worth retrying: the key is given up rather
  // than pinned to the failure.
  try {
    if (status >= 499 || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) {
      await bounded(store.release(held.key, held.claim));
      return payload;
    }
    const headers: Record<string, string> = {};
    for (const name of [...replayedHeaders, 'x-served-by']) {
      const value = reply.getHeader(name);
      if (value !== undefined) headers[name] = String(value);
    }
    const response: StoredResponse = { status, headers, body: String(payload) };
    await bounded(store.complete(held.key, held.claim, response, held.ttlMs));
  } catch (error) {
    // The answer stands; the claim ends with its lease, and until then a repeat gets 409.
    request.log.error({ err: error }, 'idempotency store failed to keep a response');
  }
  return payload;
}

/** /docs: Swagger UI from the installed packages (@fastify/swagger in static mode + @fastify/swagger-ui). */
async function docsPage(app: FastifyInstance, document: Record<string, unknown>): Promise<void> {
  const [{ default: swagger }, { default: swaggerUi }] = await Promise.all([
    import('@fastify/swagger'),
    import('@fastify/swagger-ui'),
  ]);
  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, {
    routePrefix: docsPrefix,
  });
}
