/** createGateway over real sockets: composition, logs, body limit, load shedding, lifecycle and the stop sequence. */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { routes, type Seen, send, things, thingsService } from '../../test/fixtures/gateway-app.ts';
import { openSse, waitFor } from '../../test/gateway/http-client.ts';
import { type Broker, createBroker, defineContract } from '../broker/index.ts';
import { type CreateGatewayOptions, createGateway, type Gateway } from './create-gateway.ts';

const shape = defineContract({
  name: 'shape',
  version: 1,
  events: { created: { payload: z.object({ id: z.string() }) } },
});

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
  cleanup = [];
});

/** Log lines written by the gateway's pino, parsed. */
function logSink(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { stream, lines };
}

async function start(options: Partial<CreateGatewayOptions> = {}) {
  const transport = `memory://create-gateway-${randomUUID().slice(0, 8)}`;
  const seen: Seen = { created: 0, lastMeta: {}, lastKey: undefined, aborted: 0, release: [] };
  const server = await createBroker({ transport, services: [thingsService(seen)], nodeId: 'svc-1' });
  const broker = (await createBroker({ transport, contracts: [things, shape], nodeId: 'gw-node' })) as Broker;
  cleanup.push(
    () => server.stop({ timeoutMs: 1000 }),
    () => broker.stop({ timeoutMs: 1000 }),
  );
  const gateway = await createGateway({
    broker,
    routes,
    instanceId: 'gw-1',
    logger: false,
    drainDelayMs: 0,
    events: { keys: ['shape.created'] },
    ...options,
  });
  cleanup.push(async () => {
    for (const release of seen.release) release();
    await gateway.stop({ timeoutMs: 2000 });
  });
  return { gateway, broker, seen };
}

async function listen(gateway: Gateway): Promise<string> {
  return gateway.listen({ port: 0, host: '127.0.0.1' });
}

describe('createGateway', () => {
  it('serves the routes, events, health and metrics on one server; starting until listen, then ready', async () => {
    const { gateway, broker } = await start();
    expect(gateway.state).toBe('starting');
    const url = await listen(gateway);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(gateway.state).toBe('ready');
    const created = await send(url, 'POST', '/api/things', { body: { name: 'a', size: 2 } });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-served-by')).toBe('gw-1, svc-1');
    expect((await send(url, 'GET', '/health/ready')).json).toEqual({ status: 'ready', checks: {} });
    const events = await openSse(url, '/api/events');
    cleanup.push(async () => events.close());
    await broker.emit('shape.created', { id: 'x' });
    await events.until('the event', () => events.events().length === 1);
    const metrics = await send(url, 'GET', '/metrics');
    expect(metrics.text).toMatch(
      /http_requests_total\{method="POST",route="\/api\/things",status_code="201"\} 1/,
    );
    expect(metrics.text).toMatch(/keel_broker_calls_total\{action="things.create",code="OK"\} 1/);
    expect(metrics.text).toMatch(/keel_sse_clients 1/);
  });

  it('logs pino JSON; each request line carries the request id and the trace id (passed on to the service)', async () => {
    const { stream, lines } = logSink();
    const { gateway } = await start({ logger: { level: 'info', stream } });
    const url = await listen(gateway);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await send(url, 'GET', '/api/things/t1', {
      headers: { 'x-request-id': 'req-1', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    const echo = await send(url, 'POST', '/api/echo', { body: {}, headers: { 'x-request-id': 'req-2' } });
    const requestLines = lines.filter((l) => l.reqId !== undefined);
    expect(requestLines.length).toBeGreaterThanOrEqual(4);
    for (const line of requestLines) expect(line.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(requestLines.filter((l) => l.reqId === 'req-1').map((l) => l.traceId)).toEqual([traceId, traceId]);
    // Without a traceparent the gateway starts a trace: the service sees the id the log lines carry.
    const second = requestLines.filter((l) => l.reqId === 'req-2');
    expect(second).toHaveLength(2);
    expect(echo.json.traceId).toBe(second[0]?.traceId);
    expect(second[0]?.traceId).toBe(second[1]?.traceId);
    // A traceparent the gateway does not continue (version ff) is replaced: the new trace is both the
    // one the log lines name and the one the service sees.
    const refusedId = '0af7651916cd43dd8448eb211c80319c';
    const replaced = await send(url, 'POST', '/api/echo', {
      body: {},
      headers: { 'x-request-id': 'req-3', traceparent: `ff-${refusedId}-b7ad6b7169203331-01` },
    });
    const third = lines.filter((l) => l.reqId === 'req-3');
    expect(third).toHaveLength(2);
    expect(third[0]?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(third[0]?.traceId).not.toBe(refusedId);
    expect(replaced.json.traceId).toBe(third[0]?.traceId);
  });

  it('with logging off, a request without traceparent still starts a trace: each service call gets a new one', async () => {
    const { gateway } = await start({ logger: false });
    const url = await listen(gateway);
    const first = await send(url, 'POST', '/api/echo', { body: {} });
    const second = await send(url, 'POST', '/api/echo', { body: {} });
    expect(first.json.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(second.json.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(second.json.traceId).not.toBe(first.json.traceId);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const continued = await send(url, 'POST', '/api/echo', {
      body: {},
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(continued.json.traceId).toBe(traceId);
  });

  it('a body over 1 MiB is a 413 with the error body', async () => {
    const { gateway } = await start();
    const url = await listen(gateway);
    const big = await send(url, 'POST', '/api/things', {
      raw: JSON.stringify({ name: 'x'.repeat(1024 * 1024), size: 1 }),
    });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('KEEL_GATEWAY_BODY_TOO_LARGE');
    const fits = await send(url, 'POST', '/api/things', { body: { name: 'x'.repeat(1000 * 1000), size: 1 } });
    expect(fits.status).toBe(201);
  });

  it('sheds load with 503 and Retry-After while the event loop is overloaded (not for a slow start); health and metrics still answer', async () => {
    const { gateway } = await start({ pressure: { maxEventLoopDelayMs: 50, retryAfterS: 7 } });
    // A slow start (the loop blocked before listening) sheds nothing.
    const startup = Date.now() + 1500;
    while (Date.now() < startup) {}
    const url = await listen(gateway);
    for (let i = 0; i < 40; i++) {
      expect((await send(url, 'GET', '/api/things/t1')).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Overload while serving: block the loop, then let the plugin's 1 s sampling see it.
    const until = Date.now() + 1500;
    while (Date.now() < until) {}
    let shed: Awaited<ReturnType<typeof send>> | undefined;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      shed = await send(url, 'GET', '/api/things/t1');
      if (shed.status === 503) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(shed?.status).toBe(503);
    expect(shed?.headers.get('retry-after')).toBe('7');
    expect(shed?.json).toEqual({
      error: { code: 'KEEL_GATEWAY_OVERLOADED', message: 'The server is overloaded; retry later' },
    });
    expect((await send(url, 'GET', '/health/live')).status).toBe(200);
    expect((await send(url, 'GET', '/metrics')).status).toBe(200);
  }, 15_000);

  it('stop: readiness 503 at once while requests are still served, the listener closes after the drain delay, in-flight requests finish, streams end, onStop runs in order', async () => {
    const order: string[] = [];
    const { gateway, broker } = await start({
      drainDelayMs: 300,
      onStop: [
        async function brokerStop() {
          order.push('broker');
          await broker.stop({ timeoutMs: 1000 });
        },
        () => {
          order.push('database');
        },
      ],
    });
    const states: string[] = [];
    gateway.lifecycle.onChange((state) => states.push(state));
    const url = await listen(gateway);
    const events = await openSse(url, '/api/events');
    cleanup.push(async () => events.close());
    await waitFor('the stream is open', () => gateway.app.keelEvents?.clients === 1);
    const slow = send(url, 'GET', '/api/slow?ms=100');
    const stopping = gateway.stop({ timeoutMs: 5000 });
    expect(gateway.state).toBe('draining');
    const ready = await send(url, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.json.status).toBe('draining');
    expect(ready.headers.get('connection')).toBe('close');
    // Still serving during the drain delay: the load balancer has not noticed yet. Each answer closes its
    // connection, the one that was in flight when the drain began included.
    const during = await send(url, 'GET', '/api/things/t1');
    expect(during.status).toBe(200);
    expect(during.headers.get('connection')).toBe('close');
    expect(order).toEqual([]);
    const inFlight = await slow;
    expect(inFlight.status).toBe(200);
    expect(inFlight.headers.get('connection')).toBe('close');
    const report = await stopping;
    expect(report).toEqual({ ok: true, hung: [] });
    expect(states).toEqual(['ready', 'draining', 'stopped']);
    expect(order).toEqual(['broker', 'database']);
    await waitFor('the stream ended', () => events.ended, 2000);
    expect(events.events().at(-1)?.event).toBe('closing');
    await expect(fetch(`${url}/health/live`)).rejects.toThrow();
    // Idempotent: the same report.
    expect(await gateway.stop()).toBe(report);
  });

  it('from the drain on, a connection kept alive before it is closed after its next answer', async () => {
    const { gateway } = await start({ drainDelayMs: 300 });
    const url = await listen(gateway);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(async () => agent.destroy());
    const get = (path: string) =>
      new Promise<{ connection: string | undefined; socket: unknown }>((resolve, reject) => {
        const request = http.get(`${url}${path}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ connection: res.headers.connection, socket: request.socket }));
        });
        request.on('error', reject);
      });
    const before = await get('/api/things/t1');
    expect(before.connection).toBe('keep-alive');
    const stopping = gateway.stop({ timeoutMs: 5000 });
    const during = await get('/api/things/t1');
    // The same connection, idle when the drain began, answered once more and told to close.
    expect(during.socket).toBe(before.socket);
    expect(during.connection).toBe('close');
    expect((await stopping).ok).toBe(true);
  });

  it('a request in flight when the listener closes finishes; past the deadline the stop names what hung', async () => {
    const { gateway, seen } = await start({
      onStop: [
        function hangingDatabase() {
          return new Promise<void>(() => {});
        },
      ],
    });
    const url = await listen(gateway);
    const held = send(url, 'POST', '/api/hold', { body: { name: 'h' } });
    await waitFor('the hold call runs', () => seen.release.length === 1);
    const started = Date.now();
    const stopping = gateway.stop({ timeoutMs: 800 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    seen.release[0]?.();
    const answer = await held;
    expect(answer.status).toBe(201);
    expect(answer.headers.get('connection')).toBe('close');
    const report = await stopping;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(report.ok).toBe(false);
    expect(report.hung).toEqual(['hangingDatabase (still closing after the deadline)']);
    expect(gateway.state).toBe('stopped');
  });

  it('a request that outlasts the deadline has its connection cut, and the report says so', async () => {
    const { gateway, seen } = await start();
    const url = await listen(gateway);
    const held = send(url, 'POST', '/api/hold', { body: { name: 'h' } }).catch((error: unknown) => error);
    await waitFor('the hold call runs', () => seen.release.length === 1);
    const report = await gateway.stop({ timeoutMs: 300 });
    expect(report.hung).toEqual(['requests in flight (connections were cut)']);
    expect(await held).toBeInstanceOf(Error);
  });

  it('handleSignals: SIGTERM runs stop, then exits 0 (1 when something hung); the returned function unhooks', async () => {
    const { gateway } = await start();
    await listen(gateway);
    const codes: number[] = [];
    const before = process.listenerCount('SIGTERM');
    const unhook = gateway.handleSignals({ exit: (code) => codes.push(code) });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    process.emit('SIGTERM', 'SIGTERM');
    await waitFor('the exit', () => codes.length === 1);
    expect(codes).toEqual([0]);
    expect(gateway.state).toBe('stopped');
    unhook();
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });

  it('handleSignals: a part that outlasts the deadline makes the exit 1, after a log line naming it', async () => {
    const { stream, lines } = logSink();
    const { gateway } = await start({
      logger: { level: 'info', stream },
      stopTimeoutMs: 300,
      onStop: [
        function stuckQueue() {
          return new Promise<void>(() => {});
        },
      ],
    });
    await listen(gateway);
    const codes: number[] = [];
    const unhook = gateway.handleSignals({ signals: ['SIGINT'], exit: (code) => codes.push(code) });
    cleanup.push(async () => unhook());
    const started = Date.now();
    process.emit('SIGINT', 'SIGINT');
    await waitFor('the exit', () => codes.length === 1);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(codes).toEqual([1]);
    const last = lines.at(-1);
    expect(last?.level).toBe(50);
    expect(last?.msg).toBe(
      'stopped with parts that did not close cleanly: stuckQueue (still closing after the deadline)',
    );
  });

  it('setup registers the application’s own routes, which get the request id and security headers', async () => {
    const { gateway } = await start({
      setup: (app) => {
        app.get('/', async (_request, reply) =>
          reply.type('text/html').send('<!doctype html><title>page</title>'),
        );
      },
    });
    const url = await listen(gateway);
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<title>page</title>');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('refuses bad options by name', async () => {
    const broker = (await createBroker({ transport: 'memory://', contracts: [things] })) as Broker;
    cleanup.push(() => broker.stop());
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ drainDelayMs: -1 }, /drainDelayMs must be a number of milliseconds ≥ 0/],
      [{ onStop: [5] }, /onStop\[0\] must be a function/],
      [{ logger: 'loud' }, /logger must be true, false or pino options/],
      [
        { pressure: { maxDelay: 1 } },
        /unknown option "maxDelay"; known options: maxEventLoopDelayMs, retryAfterS/,
      ],
      [{ drain: 1 }, /createGateway\(\) options: unknown option "drain"/],
      [{ setup: 'page' }, /setup must be a function/],
    ];
    for (const [extra, message] of cases) {
      await expect(createGateway({ broker, routes, logger: false, ...extra } as never)).rejects.toThrow(
        message,
      );
    }
  });
});
