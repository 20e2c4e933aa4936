/**
 * createGateway: a Fastify server with keelGateway, events, health and metrics, pino JSON logs, a 1 MiB
 * body limit, load shedding under event-loop overload, and the drain sequence SIGTERM runs.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { MAX_TIMER_MS, settleWithin } from '../abort.ts';
import {
  checkDuration,
  checkFunction,
  checkOptions,
  checkSignal,
  describe,
  InvalidArgumentError,
} from '../errors.ts';
import { type HealthOptions, keelHealth } from './health.ts';
import { errorBody } from './http-errors.ts';
import { type GatewayState, Lifecycle, runStop, type StopReport, type StopStep } from './lifecycle.ts';
import { keelMetrics, type MetricsOptions } from './metrics.ts';
import {
  type GatewayOptions,
  isRequestTraceparent,
  keelGateway,
  madeTrace,
  requestIdFrom,
} from './plugin.ts';
import { randomHex } from './random-ids.ts';
import { type EventsOptions, keelEvents } from './sse.ts';

/** Load shedding under event-loop overload (@fastify/under-pressure). */
export interface PressureOptions {
  /** Above this mean event-loop delay, requests get 503 with Retry-After. @default 1000 */
  readonly maxEventLoopDelayMs?: number | undefined;
  /** The Retry-After a shed request gets, in seconds. @default 5 */
  readonly retryAfterS?: number | undefined;
}

export interface CreateGatewayOptions extends GatewayOptions {
  /** `GET /api/events` (SSE) for these broker events; omitted means no events route. */
  readonly events?: EventsOptions | undefined;
  /** `/health/live` and `/health/ready`, with dependency checks. @default no checks */
  readonly health?: HealthOptions | undefined;
  /** `GET /metrics` (Prometheus); `false` serves none. @default on, no queues */
  readonly metrics?: MetricsOptions | false | undefined;
  /** pino JSON logs (`true`), none (`false`), or pino options. @default true */
  readonly logger?: boolean | PinoOptions | undefined;
  /** On stop, how long readiness answers 503 before the listener closes. @default 5000 */
  readonly drainDelayMs?: number | undefined;
  /** The whole stop sequence's deadline when stop() is given none (SIGTERM's too). @default 30000 */
  readonly stopTimeoutMs?: number | undefined;
  /** Run in order once the server has closed: the broker, queue workers (paused first), transport, database. */
  readonly onStop?: readonly (() => Promise<void> | void)[] | undefined;
  /** Load shedding under event-loop overload; `false` turns it off. @default { maxEventLoopDelayMs: 1000 } */
  readonly pressure?: PressureOptions | false | undefined;
  /**
   * Registers the application's own routes and plugins (a page, static files) on the gateway's Fastify
   * instance, after Keel's and before it is ready. Their responses get the same request id, security
   * headers, metrics and lifecycle.
   */
  readonly setup?: ((app: FastifyInstance) => Promise<void> | void) | undefined;
}

/** pino's options as Fastify takes them (`level`, `redact`, `stream`, …). */
export type PinoOptions = Exclude<NonNullable<FastifyServerOptions['logger']>, boolean>;

export interface ListenOptions {
  /** @default 3000 */
  readonly port?: number | undefined;
  /** @default '127.0.0.1' */
  readonly host?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface GatewayStopOptions {
  /** The deadline of the whole sequence, drain delay included. @default the gateway's stopTimeoutMs */
  readonly timeoutMs?: number | undefined;
}

export interface HandleSignalsOptions {
  /** @default ['SIGTERM', 'SIGINT'] */
  readonly signals?: readonly NodeJS.Signals[] | undefined;
  /** Ends the process; tests replace it. @default process.exit */
  readonly exit?: ((code: number) => void) | undefined;
}

/** A running gateway: its Fastify instance, its one state, listen and the stop sequence. */
export interface Gateway extends AsyncDisposable {
  readonly app: FastifyInstance;
  /** `starting` until listen() resolves, `ready`, `draining` from stop() on, `stopped`. */
  readonly state: GatewayState;
  /** The state's owner: a load balancer agent or a test can listen to its changes. */
  readonly lifecycle: Lifecycle;
  /** Starts listening; resolves to the URL (`http://127.0.0.1:3000`). The gateway is then ready. */
  listen(options?: ListenOptions): Promise<string>;
  /**
   * Readiness 503 at once, `drainDelayMs`, the listener closed, requests in flight finished, event
   * streams ended, then each `onStop` in order; bounded by `timeoutMs`. Idempotent. Resolves to what did
   * not finish in time (an empty `hung` when everything did).
   */
  stop(options?: GatewayStopOptions): Promise<StopReport>;
  /** SIGTERM/SIGINT → stop() → exit 0, or 1 when the deadline passed; returns a function that unhooks. */
  handleSignals(options?: HandleSignalsOptions): () => void;
}

const ownKeys = [
  'events',
  'health',
  'metrics',
  'logger',
  'drainDelayMs',
  'stopTimeoutMs',
  'onStop',
  'pressure',
  'setup',
] as const;
const pluginKeys = ['broker', 'routes', 'instanceId', 'openapi', 'idempotency', 'cors'] as const;

/** How often the load-shedding plugin averages the event-loop delay, in ms (its default). */
const pressureSampleMs = 1000;

/** The trace id each request was given, for its log lines. */
const traceIds = new WeakMap<IncomingMessage, string>();

/**
 * A request's ids: its request id (see `requestIdOf` in plugin.ts) and the trace id of its log lines, its
 * `traceparent`'s or a new one. A new one is also written into the request's `traceparent` header (flags
 * 00: not sampled), so the gateway passes it on to the services and their lines share it; the random
 * digits of a new trace and of a new request id come from one draw.
 */
function idsOf(raw: IncomingMessage): { readonly requestId: string; readonly traceId: string } {
  // The same check the plugin makes before continuing it: a header the logs name is the one passed on.
  const header = raw.headers.traceparent;
  if (isRequestTraceparent(header)) {
    return { requestId: requestIdFrom(raw, undefined), traceId: header.slice(3, 35) };
  }
  // 40 bytes: the trace id's 16, the span id's 8, and 16 for a request id should the request bring none.
  const ids = randomHex(40);
  const traceId = ids.slice(0, 32);
  const traceparent = `00-${traceId}-${ids.slice(32, 48)}-00`;
  raw.headers.traceparent = traceparent;
  madeTrace(raw, traceparent);
  // Only when there is one: a delete turns the headers object into a slow dictionary for every later read.
  if (raw.headers.tracestate !== undefined) delete raw.headers.tracestate;
  return { requestId: requestIdFrom(raw, ids.slice(48)), traceId };
}

/**
 * The gateway's `genReqId` when it logs: the request id, and the request's trace id kept for its logger
 * (the services' lines carry it too); Fastify calls this once per request, before making its logger.
 */
function identify(raw: IncomingMessage): string {
  const { requestId, traceId } = idsOf(raw);
  traceIds.set(raw, traceId);
  return requestId;
}

/** `identify` for a gateway that does not log: the trace id is made and passed on, not kept. */
function identifyUnlogged(raw: IncomingMessage): string {
  return idsOf(raw).requestId;
}

/** Builds the gateway (routes registered, nothing listening yet). */
export async function createGateway(options: CreateGatewayOptions): Promise<Gateway> {
  const label = 'createGateway() options';
  checkOptions(label, options, [...pluginKeys, ...ownKeys]);
  if (options === undefined) throw new InvalidArgumentError(`${label} must be { broker, routes, ... }`);
  // Both end up in platform timers: past MAX_TIMER_MS one would fire at once.
  const drainDelayMs = checkDuration(`${label} drainDelayMs`, options.drainDelayMs ?? 5000, {
    max: MAX_TIMER_MS,
    allowInfinity: false,
  });
  const stopTimeoutMs = checkDuration(`${label} stopTimeoutMs`, options.stopTimeoutMs ?? 30_000, {
    min: 1,
    max: MAX_TIMER_MS - 1000,
    allowInfinity: false,
  });
  const onStop = options.onStop ?? [];
  if (!Array.isArray(onStop)) {
    throw new InvalidArgumentError(
      `${label} onStop must be an array of functions; received ${describe(onStop)}`,
    );
  }
  for (const [i, fn] of onStop.entries()) checkFunction(`${label} onStop[${i}]`, fn);
  if (options.setup !== undefined) checkFunction(`${label} setup`, options.setup);
  const logger = options.logger ?? true;
  if (typeof logger !== 'boolean' && (typeof logger !== 'object' || logger === null)) {
    throw new InvalidArgumentError(
      `${label} logger must be true, false or pino options; received ${describe(logger)}`,
    );
  }
  const pressure = pressureSettings(`${label} pressure`, options.pressure);

  const lifecycle = new Lifecycle();
  // Delay samples taken before listening (loading modules, compiling routes) say nothing about load;
  // they reach the plugin's average within two samples, so shedding starts two samples after listen.
  let shedFrom = Number.POSITIVE_INFINITY;
  const app = Fastify({
    logger,
    bodyLimit: 1024 * 1024,
    genReqId: logger === false ? identifyUnlogged : identify,
    // Without a logger, Fastify skips making a child logger per request unless a factory is given.
    ...(logger === false
      ? {}
      : {
          childLoggerFactory: ((parent, bindings, childOptions, raw) => {
            (bindings as Record<string, unknown>).traceId =
              traceIds.get(raw as IncomingMessage) ?? idsOf(raw as IncomingMessage).traceId;
            return parent.child(bindings, childOptions);
          }) satisfies FastifyServerOptions['childLoggerFactory'],
        }),
    // Requests that arrive on open connections while closing are served (with Connection: close), not
    // refused: they were sent before the load balancer noticed the drain.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });
  // From stop() on, every HTTP/1 response closes its connection, so clients (and proxies) open their next
  // request elsewhere rather than on a server about to go away: the responses open connections are
  // answering when the drain starts, and every request after. Nothing is done per request before that.
  const sockets = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  let closing = false;
  lifecycle.onChange((state) => {
    if (closing || (state !== 'draining' && state !== 'stopped')) return;
    closing = true;
    for (const socket of sockets) {
      // The response a connection is answering now (Node keeps it there until it ends).
      const answering = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (answering != null && !answering.headersSent) answering.shouldKeepAlive = false;
    }
    app.server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
      if (request.httpVersionMajor === 1) response.shouldKeepAlive = false;
    });
  });
  try {
    if (pressure !== false) {
      const { default: underPressure } = await import('@fastify/under-pressure');
      await app.register(underPressure, {
        maxEventLoopDelay: pressure.maxEventLoopDelayMs,
        retryAfter: pressure.retryAfterS,
        sampleInterval: pressureSampleMs,
        // A value returned here is sent as the response, and undefined lets the request go on (the
        // plugin's documented behaviour; its types say void).
        pressureHandler: ((
          _request: unknown,
          reply: { code(n: number): { header(k: string, v: string): unknown } },
        ) => {
          if (performance.now() < shedFrom) return undefined;
          reply.code(503).header('retry-after', String(pressure.retryAfterS));
          return errorBody('KEEL_GATEWAY_OVERLOADED', 'The server is overloaded; retry later');
        }) as never,
      });
    }
    const plugin: Record<string, unknown> = {};
    for (const key of pluginKeys) if (options[key] !== undefined) plugin[key] = options[key];
    await app.register(keelGateway, plugin as unknown as GatewayOptions);
    if (options.events !== undefined)
      await app.register(keelEvents, { ...options.events, broker: options.broker });
    await app.register(keelHealth, { ...options.health, state: () => lifecycle.state });
    if (options.metrics !== false)
      await app.register(keelMetrics, { ...options.metrics, broker: options.broker });
    if (options.setup !== undefined) await options.setup(app);
    await app.ready();
  } catch (error) {
    await app.close().catch(() => {});
    throw error;
  }

  let stopping: Promise<StopReport> | undefined;
  const log = (level: 'info' | 'warn' | 'error', message: string) => app.log[level](message);

  const closeServer = async (budgetMs: number): Promise<boolean> => {
    const closed = app.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const inTime = await Promise.race([
      closed.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), budgetMs);
      }),
    ]);
    clearTimeout(timer);
    if (inTime) return true;
    // What is still open outlasted the deadline: cut it, so the close (and the process) can end.
    app.server.closeAllConnections();
    await settleWithin(closed, 1000);
    return false;
  };

  const gateway: Gateway = {
    app,
    lifecycle,
    get state() {
      return lifecycle.state;
    },
    async listen(listenOptions) {
      checkOptions('Gateway.listen() options', listenOptions, ['port', 'host', 'signal']);
      checkSignal('Gateway.listen() signal', listenOptions?.signal);
      if (lifecycle.state !== 'starting') {
        throw new InvalidArgumentError(`Gateway.listen(): the gateway is ${lifecycle.state}`);
      }
      const url = await app.listen({
        port: listenOptions?.port ?? 3000,
        host: listenOptions?.host ?? '127.0.0.1',
        ...(listenOptions?.signal === undefined ? {} : { signal: listenOptions.signal }),
      });
      shedFrom = performance.now() + 2 * pressureSampleMs;
      lifecycle.moveTo('ready');
      return url;
    },
    stop(stopOptions) {
      if (stopping === undefined) {
        try {
          checkOptions('Gateway.stop() options', stopOptions, ['timeoutMs']);
          const timeoutMs = checkDuration(
            'Gateway.stop() timeoutMs',
            stopOptions?.timeoutMs ?? stopTimeoutMs,
            {
              min: 1,
              allowInfinity: false,
            },
          );
          const steps: StopStep[] = onStop.map((run, i) => ({ name: run.name || `onStop[${i}]`, run }));
          stopping = runStop({
            lifecycle,
            drainDelayMs: app.server.listening ? drainDelayMs : 0,
            closeServer,
            steps,
            timeoutMs,
            log,
          });
        } catch (error) {
          return Promise.reject(error);
        }
      }
      return stopping;
    },
    handleSignals(signalOptions) {
      checkOptions('Gateway.handleSignals() options', signalOptions, ['signals', 'exit']);
      const signals = signalOptions?.signals ?? ['SIGTERM', 'SIGINT'];
      const exit = signalOptions?.exit ?? ((code: number) => process.exit(code));
      const onSignal = (signal: NodeJS.Signals) => {
        log('info', `${signal} received: stopping`);
        // Every step is bounded, so this only fires if something outside them hangs the sequence.
        const last = setTimeout(() => {
          log('error', `the stop sequence outlasted its ${stopTimeoutMs} ms deadline; exiting`);
          exit(1);
        }, stopTimeoutMs + 1000);
        last.unref();
        gateway.stop().then(
          (report) => {
            clearTimeout(last);
            exit(report.ok ? 0 : 1);
          },
          (error: unknown) => {
            clearTimeout(last);
            app.log.error({ err: error }, 'stop failed');
            exit(1);
          },
        );
      };
      for (const signal of signals) process.on(signal, onSignal);
      return () => {
        for (const signal of signals) process.off(signal, onSignal);
      };
    },
    async [Symbol.asyncDispose]() {
      await gateway.stop();
    },
  };
  return gateway;
}

function pressureSettings(
  label: string,
  value: PressureOptions | false | undefined,
): { maxEventLoopDelayMs: number; retryAfterS: number } | false {
  if (value === false) return false;
  checkOptions(label, value, ['maxEventLoopDelayMs', 'retryAfterS']);
  return {
    maxEventLoopDelayMs: checkDuration(`${label} maxEventLoopDelayMs`, value?.maxEventLoopDelayMs ?? 1000, {
      min: 1,
      allowInfinity: false,
    }),
    retryAfterS: checkDuration(`${label} retryAfterS`, value?.retryAfterS ?? 5, {
      min: 1,
      allowInfinity: false,
    }),
  };
}
