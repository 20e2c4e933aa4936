/**
 * One instance of the shapes backend in one role: the backend parts (backend.ts) behind an HTTP server.
 * Roles `all` and `gateway` serve the API; every role serves /health/live, /health/ready and /metrics on
 * its port, so each process can be checked and scraped the same way.
 */
import type { FastifyInstance } from 'fastify';
import type { Broker } from 'keel/broker';
import {
  createGateway,
  type Gateway,
  type IdempotencyStore,
  RedisIdempotencyStore,
  type StopReport,
  startAgentCheck,
} from 'keel/gateway';
import { type Backend, startBackend } from './backend.ts';
import type { Config } from './config.ts';
import { eventKeys } from './contracts.ts';
import type { Log } from './log.ts';
import { registerPage } from './page.ts';
import { routes } from './routes.ts';

export interface App {
  /** `http://host:port` where this instance listens. */
  readonly url: string;
  readonly gateway: Gateway;
  readonly backend: Backend;
  /** The gateway's stop sequence (readiness 503, drain delay, close the listener, then the backend in order). */
  readonly stop: (options?: { readonly timeoutMs?: number }) => Promise<StopReport>;
}

export interface AppOptions {
  readonly log: Log;
  /** pino logging of requests. @default true */
  readonly logger?: boolean | undefined;
  /** A call's budget when a route gives none. @default 10000 */
  readonly defaultTimeoutMs?: number | undefined;
}

const servesApi = (role: Config['role']): boolean => role === 'all' || role === 'gateway';

/** Idempotency keys live where the state lives: Redis when the queue is on Redis, this process otherwise. */
async function idempotencyStore(
  config: Config,
  onClose: (() => Promise<void>)[],
  checks: Record<string, (signal: AbortSignal) => Promise<void>>,
): Promise<IdempotencyStore | undefined> {
  if (!/^rediss?:/.test(config.queueUrl)) return undefined;
  // Loaded only here, so an embedded backend never loads a Redis client.
  const { Redis } = await import('ioredis');
  const redis = new Redis(config.queueUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    // A frozen Redis fails a command (a readiness ping, a key check) within a second rather than never.
    commandTimeout: 1000,
    connectTimeout: 2000,
  });
  await redis.connect();
  onClose.push(async () => {
    redis.disconnect();
  });
  checks.idempotency = async () => {
    await redis.ping();
  };
  return new RedisIdempotencyStore({ redis, prefix: 'shapes:idem:' });
}

/**
 * `GET /api/services`: the live service instances from discovery (the NATS Service API), with calls and
 * errors per action, for the live page's Instances panel.
 */
function registerServices(app: FastifyInstance, broker: Broker): void {
  app.get('/api/services', async () => {
    const found = await broker.services({ timeoutMs: 1000, stallMs: 150 });
    return {
      instances: found.map((s) => ({
        name: s.name,
        version: s.version,
        id: s.nodeId ?? s.id,
        actions: s.actions.map((a) => ({ name: a.name, calls: a.requests, errors: a.errors })),
      })),
    };
  });
}

/** Starts the backend of `config.role` and its HTTP server; resolves once it listens and is ready. */
export async function startApp(config: Config, options: AppOptions): Promise<App> {
  const { log } = options;
  const backend = await startBackend(config, {
    log,
    nodeId: config.instanceId,
    defaultTimeoutMs: options.defaultTimeoutMs,
  });
  const extraClose: (() => Promise<void>)[] = [];
  const checks = { ...backend.checks };
  let gateway: Gateway | undefined;
  try {
    if (config.agentPort !== undefined) {
      // HAProxy's agent asks this instance itself: drain while starting or stopping, a weight while ready.
      const agent = await startAgentCheck({
        port: config.agentPort,
        state: () => gateway?.state ?? 'starting',
      });
      extraClose.push(() => agent.close());
    }
    const store = servesApi(config.role) ? await idempotencyStore(config, extraClose, checks) : undefined;
    gateway = await createGateway({
      broker: backend.broker,
      routes: servesApi(config.role) ? routes : [],
      ...(config.instanceId === undefined ? {} : { instanceId: config.instanceId }),
      openapi: servesApi(config.role) ? { title: 'Shapes', version: '1.0.0' } : false,
      ...(store === undefined ? {} : { idempotency: { store } }),
      ...(servesApi(config.role) ? { events: { keys: [...eventKeys] } } : {}),
      health: { checks },
      metrics: { queues: backend.queue === undefined ? [] : [backend.queue] },
      logger: options.logger ?? true,
      drainDelayMs: config.drainDelayMs,
      onStop: [...backend.closeSteps(), ...extraClose],
      ...(servesApi(config.role)
        ? {
            setup: (app: FastifyInstance) => {
              registerPage(app);
              registerServices(app, backend.broker);
            },
          }
        : {}),
    });
  } catch (error) {
    await backend.close().catch(() => undefined);
    for (const close of extraClose) await close().catch(() => undefined);
    throw error;
  }
  let url: string;
  try {
    url = await gateway.listen({ port: config.port, host: config.host });
  } catch (error) {
    // A port in use, say: close what started, in the usual order, then say why.
    await gateway.stop({ timeoutMs: 5000 }).catch(() => undefined);
    throw error;
  }
  log('info', `shapes ${config.role} listening`, { url });
  return {
    url,
    gateway,
    backend,
    stop: (stopOptions) => gateway.stop(stopOptions),
  };
}
