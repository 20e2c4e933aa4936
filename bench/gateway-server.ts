/**
 * The server side of the gateway benchmark, in a process of its own (so the load generator does not share
 * its event loop): `node --conditions=keel-source bench/gateway-server.ts DIR` opens one SQLite store in
 * DIR and serves it twice — through the shapes backend's gateway and broker (a local call), and through
 * a bare Fastify route doing the same work by hand, through the keelGateway plugin alone, and
 * through a plain route calling the broker, without call options and with per-request ones — then prints the URLs and a stored shape's id as
 * one JSON line. It exits when its parent closes stdin.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import Fastify, { type FastifyRequest } from 'fastify';
import { keelGateway } from 'keel/gateway';
import { startApp } from '../apps/shapes/app.ts';
import { readConfig } from '../apps/shapes/config.ts';
import { CreateShapeParams } from '../apps/shapes/contracts.ts';
import { silentLog } from '../apps/shapes/log.ts';
import { routes } from '../apps/shapes/routes.ts';
import { buildShape } from '../apps/shapes/services/shapes-service.ts';
import { openSqliteRepository } from '../apps/shapes/storage/sqlite-repository.ts';

const dir = process.argv[2] as string;
const databaseUrl = `sqlite:${join(dir, 'shapes.db')}`;

// The gateway: the app as `npm start` runs it (role all), its request log off as a benchmark's would be.
const app = await startApp(
  readConfig({ PORT: '0', DATABASE_URL: databaseUrl, DRAIN_DELAY_MS: '0' }, ['--role', 'all']),
  { log: silentLog, logger: false },
);

// The bare route: the same store file, the same row, the same ShapeFactory work, no gateway or broker.
const repository = openSqliteRepository(join(dir, 'shapes.db'));
const bare = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
bare.get<{ Params: { id: string } }>('/api/shapes/:id', async (req, reply) => {
  const shape = await repository.get(req.params.id);
  if (shape === undefined)
    return reply.code(404).send({ error: { code: 'KEEL_SHAPE_NOT_FOUND', message: 'not found' } });
  return shape;
});
bare.post('/api/shapes', async (req, reply) => {
  const parsed = CreateShapeParams.safeParse(req.body);
  if (!parsed.success)
    return reply.code(400).send({ error: { code: 'KEEL_BROKER_VALIDATION', message: 'invalid' } });
  const shape = buildShape(parsed.data);
  await repository.insert(shape);
  reply.code(201).header('location', `/api/shapes/${shape.id}`);
  return shape;
});
const bareUrl = await bare.listen({ port: 0, host: '127.0.0.1' });

// The same routes and broker through the keelGateway plugin alone on a plain Fastify: no metrics, load
// shedding, logger or lifecycle of createGateway — to tell their share of the cost from the plugin's and the broker's.
const plugin = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
await plugin.register(keelGateway, { broker: app.backend.broker, routes, openapi: false });
const pluginUrl = await plugin.listen({ port: 0, host: '127.0.0.1' });

// A plain Fastify route that calls the broker itself: the broker's local call without the plugin.
const direct = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
const broker = app.backend.broker;
direct.get<{ Params: { id: string } }>('/api/shapes/:id', (req) =>
  broker.call('shapes.get', { id: req.params.id }),
);
direct.post('/api/shapes', async (req, reply) => {
  const shape = await broker.call('shapes.create', req.body);
  reply.code(201);
  return shape;
});
const directUrl = await direct.listen({ port: 0, host: '127.0.0.1' });

// The same plain route passing per-request call options through the public broker.call (a fresh abort
// signal, the request id as meta, the route's per-try deadline, onServed), each checked on every call:
// what a route of the user's own pays for them. The plugin passes the same options already checked
// (through a method internal to Keel), on one abort signal per connection.
const optioned = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
const getRoute = routes.find((r) => r.action === 'shapes.get');
const createRoute = routes.find((r) => r.action === 'shapes.create');
const callOptions = (req: FastifyRequest, timeouts: typeof getRoute) => ({
  timeoutMs: timeouts?.timeoutMs,
  attemptTimeoutMs: timeouts?.attemptTimeoutMs,
  signal: new AbortController().signal,
  meta: { 'x-request-id': req.id },
  onServed: (_node: string) => {},
});
optioned.get<{ Params: { id: string } }>('/api/shapes/:id', (req) =>
  broker.call('shapes.get', { id: req.params.id }, callOptions(req, getRoute)),
);
optioned.post('/api/shapes', async (req, reply) => {
  const shape = await broker.call('shapes.create', req.body, callOptions(req, createRoute));
  reply.code(201);
  return shape;
});
const optionedUrl = await optioned.listen({ port: 0, host: '127.0.0.1' });

const seeded = buildShape({ kind: 'triangle', a: 3, b: 4, c: 5 });
await repository.insert(seeded);

process.stdout.write(
  `${JSON.stringify({ gateway: app.url, plugin: pluginUrl, direct: directUrl, optioned: optionedUrl, bare: bareUrl, id: seeded.id })}\n`,
);
process.stdin.resume();
await once(process.stdin, 'end');
await bare.close();
await plugin.close();
await direct.close();
await optioned.close();
await repository.close();
await app.stop({ timeoutMs: 5000 });
