/** /metrics over a real socket: route labels, status codes, broker calls by outcome, jobs by state. */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { z } from 'zod';
import { listenLocal } from '../../test/gateway/http-client.ts';
import { type Broker, createBroker, defineContract, defineService } from '../broker/index.ts';
import { KeelError } from '../errors.ts';
import { type JobQueue, openQueue } from '../jobs/index.ts';
import { keelMetrics } from './metrics.ts';

const shapes = defineContract({
  name: 'shapes',
  version: 1,
  actions: {
    get: { params: z.object({ id: z.string() }), result: z.object({ id: z.string() }) },
  },
});

let app: FastifyInstance | undefined;
let broker: Broker | undefined;
let queue: JobQueue | undefined;
afterEach(async () => {
  await app?.close();
  await broker?.stop();
  await queue?.close();
  app = broker = queue = undefined;
});

/** The value of one series in Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.indexOf('}'));
    const parts = inner.split(',');
    if (wanted.every((w) => parts.includes(w)) && parts.length === wanted.length) {
      return Number(line.slice(line.indexOf('}') + 2));
    }
  }
  return undefined;
}

describe('GET /metrics', () => {
  it('counts requests by route pattern (not the URL) and status, with a latency histogram; broker calls by action and code; jobs by state', async () => {
    const transport = `memory://metrics-${randomUUID().slice(0, 8)}`;
    const service = defineService(shapes, {
      actions: {
        get: ({ id }) => {
          if (id === 'missing') throw new KeelError('KEEL_SHAPE_NOT_FOUND', 'no such shape');
          return { id };
        },
      },
    });
    broker = (await createBroker({ transport, services: [service] })) as Broker;
    queue = await openQueue('memory://', `renders-${randomUUID().slice(0, 8)}`);
    await queue.add('render', { ids: [] });
    await queue.add('render', { ids: [] });
    app = Fastify();
    await app.register(keelMetrics, { broker, queues: [queue] });
    const b = broker;
    app.get('/api/shapes/:id', async (request, reply) => {
      const { id } = request.params as { id: string };
      try {
        return await b.call('shapes.get', { id });
      } catch {
        return reply.code(404).send({ error: 'not found' });
      }
    });
    const base = await listenLocal(app);
    for (const id of ['a', 'b', 'c', 'missing']) await fetch(`${base}/api/shapes/${id}`);
    await fetch(`${base}/nowhere/${randomUUID()}`);
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const route = { method: 'GET', route: '/api/shapes/:id' };
    expect(sample(text, 'http_requests_total', { ...route, status_code: '200' })).toBe(3);
    expect(sample(text, 'http_requests_total', { ...route, status_code: '404' })).toBe(1);
    expect(
      sample(text, 'http_requests_total', { method: 'GET', route: '(unmatched)', status_code: '404' }),
    ).toBe(1);
    expect(text).not.toMatch(/route="\/api\/shapes\/a"|nowhere/);
    expect(sample(text, 'http_request_duration_seconds_count', { ...route, status_code: '200' })).toBe(3);
    expect(
      sample(text, 'http_request_duration_seconds_bucket', { ...route, status_code: '200', le: '+Inf' }),
    ).toBe(3);
    expect(sample(text, 'keel_broker_calls_total', { action: 'shapes.get', code: 'OK' })).toBe(3);
    expect(
      sample(text, 'keel_broker_calls_total', { action: 'shapes.get', code: 'KEEL_SHAPE_NOT_FOUND' }),
    ).toBe(1);
    expect(sample(text, 'keel_broker_call_duration_seconds_count', { action: 'shapes.get' })).toBe(4);
    expect(sample(text, 'keel_jobs', { queue: queue.name, state: 'waiting' })).toBe(2);
    expect(sample(text, 'keel_jobs', { queue: queue.name, state: 'failed' })).toBe(0);
    expect(sample(text, 'keel_jobs_up', { queue: queue.name })).toBe(1);
    // prom-client's defaults: process and event-loop delay.
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
  });

  it("reads broker calls from the broker's own counters at scrape time: every call of the process, buckets in seconds, a reset counted from", async () => {
    const transport = `memory://metrics-${randomUUID().slice(0, 8)}`;
    const outer = defineContract({
      name: 'outer',
      version: 1,
      actions: { run: { params: z.object({ id: z.string() }), result: z.object({ id: z.string() }) } },
    });
    const inner = defineService(shapes, {
      actions: {
        get: ({ id }) => {
          if (id === 'missing') throw new KeelError('KEEL_SHAPE_NOT_FOUND', 'no such shape');
          return { id };
        },
      },
    });
    const nesting = defineService(outer, {
      actions: { run: ({ id }, ctx) => ctx.call('shapes.get', { id }) as Promise<{ id: string }> },
    });
    broker = (await createBroker({ transport, services: [inner, nesting] })) as Broker;
    app = Fastify();
    await app.register(keelMetrics, { broker, defaultMetrics: false });
    const base = await listenLocal(app);
    // Calls made before and outside any route: the broker counts them all, a nested one included.
    await broker.call('outer.run', { id: 'a' });
    await broker.call('shapes.get', { id: 'b' });
    let text = await (await fetch(`${base}/metrics`)).text();
    expect(sample(text, 'keel_broker_calls_total', { action: 'outer.run', code: 'OK' })).toBe(1);
    expect(sample(text, 'keel_broker_calls_total', { action: 'shapes.get', code: 'OK' })).toBe(2);
    expect(sample(text, 'keel_broker_call_duration_seconds_count', { action: 'shapes.get' })).toBe(2);
    expect(
      sample(text, 'keel_broker_call_duration_seconds_bucket', { action: 'shapes.get', le: '+Inf' }),
    ).toBe(2);
    // The broker's bounds, in seconds: from 0.1 ms to 10 s.
    expect(sample(text, 'keel_broker_call_duration_seconds_bucket', { action: 'shapes.get', le: '10' })).toBe(
      2,
    );
    expect(text).toMatch(/keel_broker_call_duration_seconds_bucket\{le="0\.0001",action="shapes\.get"\}/);
    // A reset counts from then on; the broker's own numbers are untouched.
    app.keelMetrics?.resetMetrics();
    await expect(broker.call('shapes.get', { id: 'missing' })).rejects.toThrow('no such shape');
    await broker.call('shapes.get', { id: 'c' });
    text = await (await fetch(`${base}/metrics`)).text();
    expect(sample(text, 'keel_broker_calls_total', { action: 'shapes.get', code: 'OK' })).toBe(1);
    expect(
      sample(text, 'keel_broker_calls_total', { action: 'shapes.get', code: 'KEEL_SHAPE_NOT_FOUND' }),
    ).toBe(1);
    expect(sample(text, 'keel_broker_calls_total', { action: 'outer.run', code: 'OK' })).toBeUndefined();
    expect(sample(text, 'keel_broker_call_duration_seconds_count', { action: 'shapes.get' })).toBe(2);
    expect(broker.metrics().actions.find((a) => a.action === 'shapes.get' && a.side === 'call')?.calls).toBe(
      4,
    );
  });

  it('the majors of one contract count under one series per action, before and after a reset', async () => {
    const transport = `memory://metrics-${randomUUID().slice(0, 8)}`;
    const shapesV2 = defineContract({
      name: 'shapes',
      version: 2,
      actions: { get: { params: z.object({ id: z.string() }), result: z.object({ id: z.string() }) } },
    });
    const v1 = defineService(shapes, { actions: { get: ({ id }) => ({ id }) } });
    const v2 = defineService(shapesV2, { actions: { get: ({ id }) => ({ id }) } });
    // This broker serves v2; v1 is served by another, still called from here through its client.
    const older = await createBroker({ transport, services: [v1] });
    onTestFinished(() => older.stop());
    broker = (await createBroker({ transport, services: [v2] })) as Broker;
    app = Fastify();
    await app.register(keelMetrics, { broker, defaultMetrics: false });
    const base = await listenLocal(app);
    await broker.client(shapes).get({ id: 'a' });
    await broker.client(shapesV2).get({ id: 'b' });
    await broker.client(shapesV2).get({ id: 'c' });
    let text = await (await fetch(`${base}/metrics`)).text();
    const series = (t: string, name: string) => t.split('\n').filter((line) => line.startsWith(`${name}{`));
    expect(series(text, 'keel_broker_calls_total')).toEqual([
      'keel_broker_calls_total{action="shapes.get",code="OK"} 3',
    ]);
    expect(series(text, 'keel_broker_call_duration_seconds_count')).toEqual([
      'keel_broker_call_duration_seconds_count{action="shapes.get"} 3',
    ]);
    app.keelMetrics?.resetMetrics();
    await broker.client(shapesV2).get({ id: 'd' });
    text = await (await fetch(`${base}/metrics`)).text();
    expect(series(text, 'keel_broker_calls_total')).toEqual([
      'keel_broker_calls_total{action="shapes.get",code="OK"} 1',
    ]);
    const buckets = series(text, 'keel_broker_call_duration_seconds_bucket').map((line) =>
      Number(line.split(' ')[1]),
    );
    expect(buckets.at(-1)).toBe(1);
    expect(buckets.every((n, i) => n >= 0 && (i === 0 || n >= (buckets[i - 1] as number)))).toBe(true);
  });

  it('a queue that does not answer within queueTimeoutMs is left out of the scrape and marked down, not waited for', async () => {
    const hanging = { name: 'stuck', counts: () => new Promise<Record<string, number>>(() => {}) };
    app = Fastify();
    await app.register(keelMetrics, { queues: [hanging], queueTimeoutMs: 100, defaultMetrics: false });
    const base = await listenLocal(app);
    const started = Date.now();
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(sample(text, 'keel_jobs_up', { queue: 'stuck' })).toBe(0);
    expect(text).not.toMatch(/^keel_jobs\{/m);
    expect(text).not.toMatch(/^process_/m);
  });

  it('each gateway has its own registry: two apps do not share series, and the global registry stays empty', async () => {
    const { register } = await import('prom-client');
    const one = Fastify();
    const two = Fastify();
    await one.register(keelMetrics, { defaultMetrics: false });
    await two.register(keelMetrics, { defaultMetrics: false });
    one.get('/x', async () => 'x');
    await one.inject('/x');
    expect(await one.keelMetrics?.getSingleMetricAsString('http_requests_total')).toMatch(/route="\/x"/);
    expect(await two.keelMetrics?.getSingleMetricAsString('http_requests_total')).not.toMatch(/route="\/x"/);
    expect((await register.metrics()).trim()).toBe('');
    await one.close();
    await two.close();
  });

  it('refuses bad options by name', async () => {
    for (const [options, message] of [
      [{ queues: [{}] }, /queues\[0\] must be a job queue/],
      [{ queueTimeoutMs: -1 }, /queueTimeoutMs must be a number of milliseconds ≥ 1/],
      [{ queue: [] }, /unknown option "queue"; known options: queues, queueTimeoutMs, defaultMetrics/],
    ] as const) {
      const bare = Fastify();
      await expect(bare.register(keelMetrics, options as never).ready()).rejects.toThrow(message);
      await bare.close();
    }
  });
});
