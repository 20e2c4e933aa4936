/** Health routes over a real socket: liveness, readiness by state, failing and hanging checks. */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { listenLocal } from '../../test/gateway/http-client.ts';
import { KeelError } from '../errors.ts';
import { type HealthPluginOptions, keelHealth } from './health.ts';
import { type GatewayState, Lifecycle } from './lifecycle.ts';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function serve(options: HealthPluginOptions): Promise<string> {
  app = Fastify();
  await app.register(keelHealth, options);
  return listenLocal(app);
}

async function get(url: string) {
  const response = await fetch(url);
  return { status: response.status, body: await response.json(), headers: response.headers };
}

describe('health', () => {
  it('live answers 200 in every state; ready answers 200 only while ready, naming each check', async () => {
    const lifecycle = new Lifecycle();
    const base = await serve({
      state: () => lifecycle.state,
      checks: { nats: async () => {}, database: () => {} },
    });
    const seen: [GatewayState, number, unknown][] = [];
    for (const state of ['starting', 'ready', 'draining', 'stopped'] as const) {
      lifecycle.moveTo(state);
      expect((await get(`${base}/health/live`)).status).toBe(200);
      const ready = await get(`${base}/health/ready`);
      expect(ready.headers.get('cache-control')).toBe('no-store');
      seen.push([state, ready.status, ready.body]);
    }
    expect(seen[0]).toEqual([
      'starting',
      503,
      { status: 'starting', checks: { nats: { status: 'skipped' }, database: { status: 'skipped' } } },
    ]);
    expect(seen[1]?.[1]).toBe(200);
    expect(seen[1]?.[2]).toEqual({
      status: 'ready',
      checks: {
        nats: { status: 'up', durationMs: expect.any(Number) },
        database: { status: 'up', durationMs: expect.any(Number) },
      },
    });
    expect(seen[2]?.slice(0, 2)).toEqual(['draining', 503]);
    expect(seen[3]?.slice(0, 2)).toEqual(['stopped', 503]);
    expect(await get(`${base}/health/live`)).toMatchObject({ status: 200, body: { status: 'live' } });
  });

  it('a failing check makes ready 503 with its code as the reason (no message); a hanging one times out and is aborted', async () => {
    let aborted: unknown;
    const base = await serve({
      timeoutMs: 100,
      checks: {
        redis: async () => {
          throw new KeelError(
            'KEEL_TRANSPORT_CONNECTION',
            'connect ECONNREFUSED 10.0.0.7:6379 (password=hunter2)',
          );
        },
        other: async () => {
          throw new Error('SELECT * FROM secrets failed');
        },
        database: (signal) =>
          new Promise<void>(() => {
            signal.addEventListener('abort', () => (aborted = signal.reason));
          }),
        nats: async () => {},
      },
    });
    const started = Date.now();
    const ready = await get(`${base}/health/ready`);
    // Concurrent, each bounded: the whole answer takes about one timeout, not the sum.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(ready.status).toBe(503);
    expect(ready.body).toEqual({
      status: 'unavailable',
      checks: {
        redis: { status: 'down', durationMs: expect.any(Number), reason: 'KEEL_TRANSPORT_CONNECTION' },
        other: { status: 'down', durationMs: expect.any(Number), reason: 'failed' },
        database: { status: 'down', durationMs: expect.any(Number), reason: 'timed out after 100 ms' },
        nats: { status: 'up', durationMs: expect.any(Number) },
      },
    });
    expect(JSON.stringify(ready.body)).not.toMatch(/hunter2|SELECT|10\.0\.0\.7/);
    expect(aborted).toBeInstanceOf(Error);
  });

  it('probes that arrive while checks run share one run; a recovered dependency turns ready again', async () => {
    let runs = 0;
    let up = false;
    const base = await serve({
      checks: {
        database: async () => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 100));
          if (!up) throw new KeelError('KEEL_DB_DOWN', 'down');
        },
      },
    });
    const answers = await Promise.all(Array.from({ length: 5 }, () => get(`${base}/health/ready`)));
    expect(answers.map((a) => a.status)).toEqual([503, 503, 503, 503, 503]);
    expect(runs).toBe(1);
    up = true;
    expect((await get(`${base}/health/ready`)).status).toBe(200);
  });

  it('refuses bad options by name', async () => {
    for (const [options, message] of [
      [{ checks: { db: 5 } }, /keelHealth options checks\.db must be a function/],
      [{ timeoutMs: 0 }, /timeoutMs must be a number of milliseconds ≥ 1/],
      [{ check: {} }, /unknown option "check"; known options: checks, timeoutMs/],
    ] as const) {
      const bare = Fastify();
      await expect(bare.register(keelHealth, options as never).ready()).rejects.toThrow(message);
      await bare.close();
    }
  });
});

describe('Lifecycle', () => {
  it('moves only forward, telling listeners each change', () => {
    const lifecycle = new Lifecycle();
    const changes: string[] = [];
    const stop = lifecycle.onChange((to, from) => changes.push(`${from}->${to}`));
    expect(lifecycle.state).toBe('starting');
    expect(lifecycle.moveTo('ready')).toBe(true);
    expect(lifecycle.moveTo('starting')).toBe(false);
    expect(lifecycle.moveTo('draining')).toBe(true);
    expect(lifecycle.moveTo('ready')).toBe(false);
    stop();
    expect(lifecycle.moveTo('stopped')).toBe(true);
    expect(lifecycle.state).toBe('stopped');
    expect(changes).toEqual(['starting->ready', 'ready->draining']);
  });
});
