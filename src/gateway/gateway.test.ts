/** keelGateway over real sockets: routes, statuses and the error body, request ids, X-Served-By, headers. */

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  routes,
  type Seen,
  send,
  startTestApp,
  type TestApp,
  things,
  thingsService,
} from '../../test/fixtures/gateway-app.ts';
import { createBroker, defineContract, defineService, RemoteError } from '../broker/index.ts';
import {
  baselineResources,
  expectReleased,
  type ResourceCount,
} from '../transport/contract/context.contract.ts';
import { GatewayRequestGoneError, keelGateway, requestIdOf, route, toHttpError } from './index.ts';

// Every app, broker and request a test made is closed by now: none may leave a socket or a timer running.
let baseline: ResourceCount = { sockets: 0, timers: 0 };
beforeAll(async () => {
  baseline = await baselineResources();
});
afterAll(() => expectReleased(baseline, 3000));

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('keelGateway: routes and statuses', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ bodyLimit: 1024 });
  });
  afterAll(() => t.close());

  it('POST → 201 with Location and the result; X-Served-By names the gateway and the serving node', async () => {
    const res = await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 2 } });
    expect(res.status).toBe(201);
    expect(res.json).toEqual({ id: expect.stringMatching(/^t\d+$/), name: 'a', size: 2 });
    expect(res.headers.get('location')).toBe(`/api/things/${res.json.id}`);
    expect(res.headers.get('x-served-by')).toBe('gw-1, svc-1');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('GET with a path parameter, GET with a query, DELETE → 204 with no body, PATCH merges path and body', async () => {
    expect(await send(t.url, 'GET', '/api/things/t1')).toMatchObject({
      status: 200,
      json: { id: 't1', name: 'one', size: 1 },
    });
    expect((await send(t.url, 'GET', '/api/things?kind=big')).json).toEqual({
      items: [{ id: 't9', name: 'big', size: 9 }],
    });
    const removed = await send(t.url, 'DELETE', '/api/things/t1');
    expect(removed).toMatchObject({ status: 204, text: '' });
    expect(await send(t.url, 'PATCH', '/api/things/t5', { body: { name: 'new' } })).toMatchObject({
      status: 200,
      json: { id: 't5', name: 'new' },
    });
    // The path wins over a body field of the same name.
    expect((await send(t.url, 'PATCH', '/api/things/t5', { body: { id: 'x', name: 'n' } })).json.id).toBe(
      't5',
    );
  });

  it('a reply callback sets the type: a string body goes out as image/svg+xml', async () => {
    const res = await send(t.url, 'GET', '/api/plain');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(res.text).toBe('<svg>plain</svg>');
  });

  it('400 with the schema’s issues when the params fail the action’s schema (the handler never runs)', async () => {
    const before = t.seen.created;
    const res = await send(t.url, 'POST', '/api/things', { body: { name: '', size: -1 } });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error: {
        code: 'KEEL_BROKER_VALIDATION',
        message: 'The request failed the schema of its action',
        issues: [
          { path: 'name', message: expect.any(String) },
          { path: 'size', message: expect.any(String) },
        ],
      },
    });
    expect(t.seen.created).toBe(before);
    expect((await send(t.url, 'GET', '/api/things?kind=huge')).json.error.issues[0].path).toBe('kind');
  });

  it('400 for a body that is not JSON, or empty under a JSON type; 415 for another media type', async () => {
    expect(await send(t.url, 'POST', '/api/things', { raw: '{"name": ' })).toMatchObject({
      status: 400,
      json: { error: { code: 'KEEL_GATEWAY_BAD_REQUEST', message: 'The body is not valid JSON' } },
    });
    expect((await send(t.url, 'POST', '/api/things', { raw: '' })).json.error.code).toBe(
      'KEEL_GATEWAY_BAD_REQUEST',
    );
    expect(await send(t.url, 'POST', '/api/things', { raw: 'name=a', type: 'text/csv' })).toMatchObject({
      status: 415,
      json: { error: { code: 'KEEL_GATEWAY_UNSUPPORTED_MEDIA_TYPE' } },
    });
  });

  it('400 for a body nested deeper than 64 levels; 64 levels pass', async () => {
    const nest = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    expect(await send(t.url, 'POST', '/api/echo', { raw: nest(65) })).toMatchObject({
      status: 400,
      json: { error: { code: 'KEEL_GATEWAY_TOO_DEEP' } },
    });
    expect((await send(t.url, 'POST', '/api/echo', { raw: `{"a":${nest(64)}}` })).json.error.code).toBe(
      'KEEL_GATEWAY_TOO_DEEP',
    );
    expect((await send(t.url, 'POST', '/api/echo', { raw: nest(64) })).status).toBe(200);
  });

  it('413 for a body larger than the body limit', async () => {
    const res = await send(t.url, 'POST', '/api/things', { body: { name: 'x'.repeat(2000), size: 1 } });
    expect(res).toMatchObject({ status: 413, json: { error: { code: 'KEEL_GATEWAY_BODY_TOO_LARGE' } } });
  });

  it('404 for an unknown route, and for an action’s *_NOT_FOUND error or data.status 404, keeping its code', async () => {
    expect(await send(t.url, 'GET', '/api/nothing?x=1')).toMatchObject({
      status: 404,
      json: { error: { code: 'KEEL_GATEWAY_NOT_FOUND', message: 'No route GET /api/nothing' } },
    });
    expect(await send(t.url, 'GET', '/api/things/t404')).toMatchObject({
      status: 404,
      json: { error: { code: 'KEEL_THING_NOT_FOUND', message: 'No thing t404' } },
    });
    expect(await send(t.url, 'GET', '/api/things/gone')).toMatchObject({
      status: 404,
      json: { error: { code: 'KEEL_THING_GONE', message: 'That thing is gone' } },
    });
  });

  it('409 for an action’s *_CONFLICT error', async () => {
    expect(await send(t.url, 'POST', '/api/things', { body: { name: 'taken', size: 1 } })).toMatchObject({
      status: 409,
      json: { error: { code: 'KEEL_THING_CONFLICT', message: 'A thing named taken exists' } },
    });
  });

  it('504 when the call passes the route’s deadline; the handler’s signal aborts', async () => {
    const before = t.seen.aborted;
    const res = await send(t.url, 'GET', '/api/slow?ms=5000');
    expect(res).toMatchObject({
      status: 504,
      json: { error: { code: 'KEEL_BROKER_DEADLINE', message: 'The service did not answer in time' } },
    });
    await expect.poll(() => t.seen.aborted, { timeout: 2000 }).toBe(before + 1);
  });

  it('500 with a generic body and nothing internal for a thrown Error or a result that fails its schema', async () => {
    for (const how of ['throw', 'result']) {
      const res = await send(t.url, 'POST', '/api/broken', { body: { how } });
      expect(res.status).toBe(500);
      expect(res.json).toEqual({
        error: { code: 'KEEL_GATEWAY_INTERNAL', message: 'Internal server error' },
      });
      expect(res.text).not.toMatch(/SELECT|secret|password|stack|at |\.ts|broken/);
    }
  });

  it('503 with Retry-After when the circuit is open (after two failures of a retryable error)', async () => {
    expect((await send(t.url, 'POST', '/api/flaky', { body: {} })).status).toBe(500);
    expect((await send(t.url, 'POST', '/api/flaky', { body: {} })).status).toBe(500);
    const res = await send(t.url, 'POST', '/api/flaky', { body: {} });
    expect(res.status).toBe(503);
    expect(res.json).toEqual({
      error: {
        code: 'KEEL_BROKER_CIRCUIT_OPEN',
        message: 'The service is unavailable for now; retry after the time in Retry-After',
      },
    });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(4);
    expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(5);
  });

  it('keeps a sane X-Request-Id, replaces an insane one, makes one when absent; the call sees it in ctx.meta', async () => {
    const kept = await send(t.url, 'POST', '/api/echo', {
      body: {},
      headers: { 'x-request-id': 'abc-123.X_y' },
    });
    expect(kept.headers.get('x-request-id')).toBe('abc-123.X_y');
    expect(kept.json.meta['x-request-id']).toBe('abc-123.X_y');
    for (const bad of ['a'.repeat(129), 'has space', 'semi;colon', '<script>']) {
      const res = await send(t.url, 'POST', '/api/echo', { body: {}, headers: { 'x-request-id': bad } });
      expect(res.headers.get('x-request-id'), bad).toMatch(uuid);
      expect(res.json.meta['x-request-id']).toBe(res.headers.get('x-request-id'));
    }
    const made = await send(t.url, 'GET', '/api/nothing');
    expect(made.headers.get('x-request-id')).toMatch(uuid);
  });

  it('continues a valid traceparent: the serving call has the client’s trace id; a malformed one is dropped', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await send(t.url, 'POST', '/api/echo', {
      body: {},
      headers: { traceparent, tracestate: 'congo=t61rcWkgMzE' },
    });
    expect(res.json.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const bad = await send(t.url, 'POST', '/api/echo', {
      body: {},
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-zz' },
    });
    expect(bad.json.traceId).toBeUndefined();
    // Version ff, and all-zero ids, are not trace context either (W3C Trace Context).
    for (const invalid of [
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    ]) {
      const dropped = await send(t.url, 'POST', '/api/echo', { body: {}, headers: { traceparent: invalid } });
      expect(dropped.json.traceId, invalid).toBeUndefined();
    }
  });

  it('sets security headers on every answer, no CORS headers by default, and no stack or server banner', async () => {
    for (const res of [
      await send(t.url, 'GET', '/api/things/t1'),
      await send(t.url, 'GET', '/api/nothing', { headers: { origin: 'https://evil.example' } }),
      await send(t.url, 'POST', '/api/things', { raw: '{' }),
    ]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('content-security-policy')).toMatch(
        /default-src 'none'.*frame-ancestors 'none'/,
      );
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
  });

  it('a client that goes away aborts the call: the handler’s ctx.signal fires', async () => {
    const before = t.seen.aborted;
    const gone = new AbortController();
    const request = fetch(`${t.url}/api/slow?ms=100000`, { signal: gone.signal }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    gone.abort();
    await request;
    await expect.poll(() => t.seen.aborted, { timeout: 2000 }).toBe(before + 1);
    expect(toHttpError(new GatewayRequestGoneError())).toMatchObject({ status: 499, internal: false });
  });

  it('the calls of one kept-alive connection share its signal: each finishes, and closing it aborts only the call then running', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ status: number | undefined; socket: unknown }>((resolve, reject) => {
        const request = http.get(`${t.url}${path}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode, socket: request.socket }));
        });
        request.on('error', reject);
      });
    const sockets = new Set<unknown>();
    const before = t.seen.aborted;
    for (let i = 0; i < 20; i++) {
      const answer = await get('/api/things/t1');
      expect(answer.status).toBe(200);
      sockets.add(answer.socket);
    }
    expect(sockets.size).toBe(1);
    expect(t.seen.aborted).toBe(before);
    const slow = http.get(`${t.url}/api/slow?ms=100000`, { agent });
    slow.on('error', () => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    slow.destroy();
    await expect.poll(() => t.seen.aborted, { timeout: 2000 }).toBe(before + 1);
    agent.destroy();
  });

  it('inject(): a request given up on aborts its call too (its stand-in socket never closes)', async () => {
    const before = t.seen.aborted;
    const gone = new AbortController();
    const answer = t.app.inject({ method: 'GET', url: '/api/slow?ms=100000', signal: gone.signal });
    await new Promise((resolve) => setTimeout(resolve, 50));
    gone.abort();
    await answer.catch(() => undefined);
    await expect.poll(() => t.seen.aborted, { timeout: 2000 }).toBe(before + 1);
  });

  it('refuses a hand-made route whose deadline a route() would refuse, naming it', async () => {
    const [made] = routes;
    for (const [field, value] of [
      ['timeoutMs', Number.POSITIVE_INFINITY],
      ['attemptTimeoutMs', 0],
    ] as const) {
      const app = Fastify();
      const broken = { ...(made as (typeof routes)[number]), [field]: value };
      await expect(
        app.register(keelGateway, { broker: t.broker, routes: [broken], openapi: false }).ready(),
      ).rejects.toThrow(new RegExp(`routes \\(POST /api/things\\) ${field}`));
      await app.close();
    }
  });

  it('a service error coded *_UNAVAILABLE (or data.status 503) is a 503 with Retry-After, saying nothing internal', () => {
    const remote = (code: string, data: unknown) =>
      new RemoteError('things.get', {
        code,
        name: 'X',
        message: 'pool said ECONNREFUSED 10.0.0.5',
        retryable: true,
        data,
      });
    const answer = toHttpError(remote('KEEL_THINGS_STORAGE_UNAVAILABLE', { retryAfterMs: 2500 }));
    expect(answer).toMatchObject({ status: 503, retryAfterS: 3, internal: false });
    expect(JSON.stringify(answer.body)).not.toContain('ECONNREFUSED');
    expect(toHttpError(remote('KEEL_THINGS_DOWN', { status: 503 }))).toMatchObject({
      status: 503,
      retryAfterS: 1,
    });
    expect(toHttpError(remote('KEEL_THINGS_ODD', {}))).toMatchObject({ status: 500, internal: true });
  });
});

describe('keelGateway: tries', () => {
  // An app of its own: its broker's circuit for things.slow starts closed, whatever other tests did.
  let u: TestApp;
  beforeAll(async () => {
    u = await startTestApp();
  });
  afterAll(() => u.close());

  it('attemptTimeoutMs bounds each try: a try that hangs is abandoned at it, not at the route deadline', async () => {
    const before = u.seen.aborted;
    const started = Date.now();
    const res = await send(u.url, 'GET', '/api/slow-tries?ms=3000');
    expect(res.status).toBe(504);
    expect(res.json.error.code).toBe('KEEL_BROKER_DEADLINE');
    // The route allows 5 s; the (not idempotent, so not retried) try gave up at its own 100 ms.
    expect(Date.now() - started).toBeLessThan(2500);
    // The abandoned try's handler was told: its ctx.signal aborted.
    await expect.poll(() => u.seen.aborted, { timeout: 2000 }).toBe(before + 1);
  });
});

describe('keelGateway: unavailable', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('503 with Retry-After when the gateway’s broker is stopped', async () => {
    t = await startTestApp();
    await t.broker.stop();
    const res = await send(t.url, 'GET', '/api/things/t1');
    expect(res.status).toBe(503);
    expect(res.json.error.code).toBe('KEEL_BROKER_STOPPED');
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('503 with Retry-After when the serving action’s bulkhead is full', async () => {
    t = await startTestApp();
    const { url, seen } = t;
    const first = send(url, 'POST', '/api/hold', { body: { name: 'a' } });
    await expect.poll(() => seen.release.length, { timeout: 2000 }).toBe(1);
    const pending = Array.from({ length: 8 }, () => send(url, 'POST', '/api/hold', { body: { name: 'b' } }));
    // hold runs 8 at once and queues none: seven more run, the ninth call is refused.
    await expect.poll(() => seen.release.length, { timeout: 2000 }).toBe(8);
    const refused = await Promise.race(pending);
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('KEEL_BROKER_BULKHEAD_FULL');
    expect(refused.headers.get('retry-after')).toBe('1');
    for (const release of seen.release) release();
    const statuses = (await Promise.all(pending)).map((r) => r.status).sort();
    expect(statuses).toEqual([201, 201, 201, 201, 201, 201, 201, 503]);
    expect((await first).status).toBe(201);
  });
});

describe('keelGateway: options', () => {
  it('CORS only when configured: an allowed origin is echoed, a preflight answered, others get nothing', async () => {
    const t = await startTestApp({ cors: { origins: ['https://app.example'] } });
    try {
      const ok = await send(t.url, 'GET', '/api/things/t1', { headers: { origin: 'https://app.example' } });
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(ok.headers.get('vary')).toMatch(/Origin/);
      const other = await send(t.url, 'GET', '/api/things/t1', {
        headers: { origin: 'https://evil.example' },
      });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
      const preflight = await send(t.url, 'OPTIONS', '/api/things', {
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-methods')).toMatch(/POST/);
      expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Idempotency-Key/);
    } finally {
      await t.close();
    }
  });

  it('runs the action’s params schema once per request (in the broker), whether served locally or remotely', async () => {
    let runs = 0;
    const counted = {
      '~standard': {
        version: 1 as const,
        vendor: 'counted',
        validate: (value: unknown) => {
          runs++;
          return typeof (value as { n?: unknown }).n === 'string'
            ? { value }
            : { issues: [{ message: 'n must be a string', path: ['n'] }] };
        },
      },
    };
    const count = defineContract({
      name: 'count',
      version: 1,
      actions: { go: { params: counted, result: z.unknown() } },
    });
    const service = defineService(count, { actions: { go: (p) => p } });
    for (const preferLocal of [true, false]) {
      const transport = `memory://gateway-once-${preferLocal}`;
      const server = await createBroker({ transport, services: [service], preferLocal });
      const app = Fastify();
      try {
        await app.register(keelGateway, {
          broker: server,
          routes: [route(count, 'go', { method: 'GET', url: '/go' })],
          openapi: false,
        });
        const url = await app.listen({ port: 0, host: '127.0.0.1' });
        runs = 0;
        expect((await send(url, 'GET', '/go?n=x')).status).toBe(200);
        expect(runs, `preferLocal ${preferLocal}`).toBe(1);
        runs = 0;
        expect((await send(url, 'GET', '/go')).status).toBe(400);
        expect(runs, `preferLocal ${preferLocal}`).toBe(1);
      } finally {
        await app.close();
        await server.stop();
      }
    }
  });

  it('a reply callback that sends the answer itself is not answered twice', async () => {
    const text = defineContract({
      name: 'text',
      version: 1,
      actions: { say: { params: z.unknown(), result: z.string() } },
    });
    const broker = await createBroker({
      transport: 'memory://gateway-sent',
      services: [defineService(text, { actions: { say: () => 'text' } })],
    });
    const lines: string[] = [];
    const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => lines.push(line) } } });
    try {
      const sent = route(text, 'say', {
        method: 'GET',
        url: '/sent',
        reply: (result, reply) => reply.type('text/plain').send(`sent ${result}`),
      });
      await app.register(keelGateway, { broker, routes: [sent], openapi: false });
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      expect(await send(url, 'GET', '/sent')).toMatchObject({ status: 200, text: 'sent text' });
      expect(lines.join('')).not.toMatch(/already sent/i);
    } finally {
      await app.close();
      await broker.stop();
    }
  });

  it('with genReqId: requestIdOf, Fastify’s request.id (its log lines’ reqId) is the id the gateway echoes', async () => {
    const broker = await createBroker({ transport: 'memory://gateway-reqid', contracts: [things] });
    const app = Fastify({ genReqId: requestIdOf });
    try {
      await app.register(keelGateway, { broker, routes: [], openapi: false });
      app.get('/whoami', (request) => ({ id: request.id }));
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      const kept = await send(url, 'GET', '/whoami', { headers: { 'x-request-id': 'abc-1' } });
      expect(kept.json).toEqual({ id: 'abc-1' });
      expect(kept.headers.get('x-request-id')).toBe('abc-1');
      const made = await send(url, 'GET', '/whoami', { headers: { 'x-request-id': 'bad id' } });
      expect(made.json.id).toMatch(uuid);
      expect(made.headers.get('x-request-id')).toBe(made.json.id);
      // Routes beside the plugin's get its headers too.
      expect(made.headers.get('x-content-type-options')).toBe('nosniff');
    } finally {
      await app.close();
      await broker.stop();
    }
  });

  it('refuses unknown and bad options by name', async () => {
    const broker = await createBroker({ transport: 'memory://gateway-options', contracts: [things] });
    try {
      const attempt = async (options: unknown) => {
        const app = Fastify();
        try {
          await app.register(keelGateway, options as never);
          await app.ready();
        } finally {
          await app.close();
        }
      };
      await expect(attempt({ broker, routes: [], openApi: {} })).rejects.toThrow(
        /unknown option "openApi"; known options: broker, routes, instanceId, openapi, idempotency, cors/,
      );
      await expect(attempt({ broker: {}, routes: [] })).rejects.toThrow(/broker must be a Broker/);
      await expect(attempt({ broker, routes: [{}] })).rejects.toThrow(
        /routes must be an array of route\(\) values/,
      );
      await expect(attempt({ broker, routes: [], instanceId: 'a b' })).rejects.toThrow(/instanceId must be/);
      await expect(attempt({ broker, routes: [], idempotency: { ttlMs: -1 } })).rejects.toThrow(/ttlMs/);
      await expect(attempt({ broker, routes: [], cors: { origins: ['*'] } })).rejects.toThrow(/cors.origins/);
      const twice = route(things, 'get', { method: 'GET', url: '/a/:id' });
      await expect(attempt({ broker, routes: [twice, twice] })).rejects.toThrow(
        /GET \/a\/:id is given twice/,
      );
    } finally {
      await broker.stop();
    }
  });

  it('route() refuses an unknown action, a bad method, url, status or field by name', () => {
    expect(() => route(things, 'nope' as never, { method: 'GET', url: '/x' })).toThrow(
      /route\(\) action must be an action of "things" \(create, get/,
    );
    expect(() => route(things, 'get', { method: 'HEAD' as never, url: '/x' })).toThrow(
      /method must be one of/,
    );
    expect(() => route(things, 'get', { method: 'GET', url: 'x' })).toThrow(
      /url must be a path starting with \//,
    );
    expect(() => route(things, 'get', { method: 'GET', url: '/x/*' })).toThrow(/one parameter/);
    expect(() => route(things, 'get', { method: 'GET', url: '/x', status: 404 })).toThrow(/status must be/);
    expect(() => route(things, 'get', { method: 'GET', url: '/x', timeout: 5 } as never)).toThrow(
      /unknown option "timeout"/,
    );
    const other = defineContract({
      name: 'other',
      version: 1,
      actions: { a: { params: z.null(), result: z.null() } },
    });
    expect(route(other, 'a', { method: 'GET', url: '/o/:id/:sub' }).pathParams).toEqual(['id', 'sub']);
  });
});

describe('keelGateway over HTTP/2', () => {
  it('each stream has a signal of its own: a cancelled stream aborts its call, and the session serves on', async () => {
    const transport = `memory://gateway-h2-${randomUUID().slice(0, 8)}`;
    const seen: Seen = { created: 0, lastMeta: {}, lastKey: undefined, aborted: 0, release: [] };
    const server = await createBroker({ transport, services: [thingsService(seen)], nodeId: 'svc-h2' });
    const broker = await createBroker({ transport, contracts: [things], nodeId: 'gw-h2' });
    const app = Fastify({ http2: true });
    await app.register(keelGateway, { broker, routes, instanceId: 'gw-2' });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const session = http2.connect(url);
    const get = (path: string) =>
      new Promise<{ status: unknown; servedBy: unknown }>((resolve, reject) => {
        const stream = session.request({ ':path': path });
        let head: http2.IncomingHttpHeaders = {};
        stream.on('response', (headers) => {
          head = headers;
        });
        stream.resume();
        stream.on('end', () => resolve({ status: head[':status'], servedBy: head['x-served-by'] }));
        stream.on('error', reject);
      });
    try {
      expect(await get('/api/things/t1')).toEqual({ status: 200, servedBy: 'gw-2, svc-h2' });
      const slow = session.request({ ':path': '/api/slow?ms=100000' });
      slow.on('error', () => {});
      slow.resume();
      await new Promise((resolve) => setTimeout(resolve, 50));
      slow.close(http2.constants.NGHTTP2_CANCEL);
      await expect.poll(() => seen.aborted, { timeout: 2000 }).toBe(1);
      expect(await get('/api/things/t1')).toEqual({ status: 200, servedBy: 'gw-2, svc-h2' });
      expect(seen.aborted).toBe(1);
    } finally {
      session.close();
      await app.close();
      await broker.stop({ timeoutMs: 1000 });
      await server.stop({ timeoutMs: 1000 });
    }
  });
});

describe('keelGateway: a client gone before its call starts', () => {
  it('a request whose client closed while it waited for an earlier hook does not run its action', async () => {
    const transport = `memory://gateway-early-${randomUUID().slice(0, 8)}`;
    const seen: Seen = { created: 0, lastMeta: {}, lastKey: undefined, aborted: 0, release: [] };
    const server = await createBroker({ transport, services: [thingsService(seen)], nodeId: 'svc-early' });
    const broker = await createBroker({ transport, contracts: [things], nodeId: 'gw-early' });
    const app = Fastify();
    app.addHook('preHandler', async () => {
      await new Promise((resolve) => setTimeout(resolve, 150));
    });
    await app.register(keelGateway, { broker, routes, instanceId: 'gw-3', idempotency: false });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const request = http.request(`${url}/api/things`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      request.on('error', () => {});
      request.end(JSON.stringify({ name: 'early', size: 1 }));
      await new Promise((resolve) => setTimeout(resolve, 30));
      request.destroy();
      // Well past the hook: the action never ran. A client that stays gets its shape made, as ever.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(seen.created).toBe(0);
      const stayed = await send(url, 'POST', '/api/things', { body: { name: 'stayed', size: 1 } });
      expect(stayed.status).toBe(201);
      expect(seen.created).toBe(1);
    } finally {
      await app.close();
      await broker.stop({ timeoutMs: 1000 });
      await server.stop({ timeoutMs: 1000 });
    }
  });
});
