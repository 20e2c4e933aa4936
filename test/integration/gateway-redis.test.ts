/**
 * Idempotency keys in Redis: two gateway instances that share nothing but a redis-server (each its own
 * client, broker, transport and service; one in another process) answer a repeat the same way, also when
 * the repeats race.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisIdempotencyStore } from '../../src/gateway/index.ts';
import { send, startTestApp, type TestApp } from '../fixtures/gateway-app.ts';
import { redisUrl } from './redis-env.ts';

const url = redisUrl();
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One gateway instance with its own Redis client; `prefix` is the test's own key space. */
async function instance(
  prefix: string,
  ttlMs?: number,
  waitMs?: number,
): Promise<{ app: TestApp; redis: Redis }> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  cleanups.push(() => redis.quit());
  const store = new RedisIdempotencyStore({ redis, prefix });
  const app = await startTestApp({
    idempotency: {
      store,
      ...(ttlMs === undefined ? {} : { ttlMs }),
      ...(waitMs === undefined ? {} : { waitMs }),
    },
  });
  cleanups.push(() => app.close());
  return { app, redis };
}

/** A gateway instance in a child process (test/integration/fixtures/gateway-node.ts), stopped after the test. */
async function otherProcess(prefix: string): Promise<{ url: string; count: () => Promise<number> }> {
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'fixtures/gateway-node.ts'), url, prefix],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  cleanups.push(async () => {
    child.stdin.end();
    const bounded = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(bounded);
  });
  const lines = createInterface({ input: child.stdout });
  const next = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${prefix}" line from the child within 10 s`)),
        10_000,
      );
      const onLine = (line: string) => {
        if (!line.startsWith(prefix)) return;
        clearTimeout(timer);
        lines.off('line', onLine);
        resolve(line.slice(prefix.length));
      };
      lines.on('line', onLine);
    });
  const childUrl = await next('url ');
  return {
    url: childUrl,
    async count() {
      const answer = next('count ');
      child.stdin.write('count\n');
      return Number(await answer);
    },
  };
}

const created = (...apps: TestApp[]) => apps.reduce((sum, a) => sum + a.seen.created, 0);

describe('Idempotency-Key with RedisIdempotencyStore, two gateway instances', () => {
  it('a repeat sent to the other instance gets the first response; the action ran once in all', async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = await instance(prefix);
    const b = await instance(prefix);
    const headers = { 'idempotency-key': 'two-1' };
    const first = await send(a.app.url, 'POST', '/api/things', { body: { name: 'x', size: 1 }, headers });
    expect(first.status).toBe(201);
    const again = await send(b.app.url, 'POST', '/api/things', { body: { name: 'x', size: 1 }, headers });
    expect(again).toMatchObject({ status: 201, text: first.text });
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(created(a.app, b.app)).toBe(1);
    const other = await send(b.app.url, 'POST', '/api/things', { body: { name: 'y', size: 1 }, headers });
    expect(other).toMatchObject({
      status: 422,
      json: { error: { code: 'KEEL_GATEWAY_IDEMPOTENCY_MISMATCH' } },
    });
    // The window is Redis's own expiry on the key.
    const ttl = await a.redis.pttl(`${prefix}POST /api/things two-1`);
    expect(ttl).toBeGreaterThan(86_000_000);
    expect(ttl).toBeLessThanOrEqual(86_400_000);
  });

  it('a repeat on the other instance while the first runs waits for it and replays its answer', async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = await instance(prefix);
    const b = await instance(prefix);
    const headers = { 'idempotency-key': 'hold-wait' };
    const first = send(a.app.url, 'POST', '/api/hold', { body: { name: 'w' }, headers });
    await expect.poll(() => a.app.seen.release.length, { timeout: 2000 }).toBe(1);
    const during = send(b.app.url, 'POST', '/api/hold', { body: { name: 'w' }, headers });
    await new Promise((resolve) => setTimeout(resolve, 300));
    a.app.seen.release[0]?.();
    const [done, repeat] = await Promise.all([first, during]);
    expect(done.status).toBe(201);
    expect(repeat).toMatchObject({ status: 201, text: done.text });
    expect(created(a.app, b.app)).toBe(1);
  });

  it('concurrent repeats on both instances run the action once; the others get 409 or the same response', async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = await instance(prefix);
    const b = await instance(prefix);
    const headers = { 'idempotency-key': 'race-1' };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        send((i % 2 === 0 ? a : b).app.url, 'POST', '/api/things', { body: { name: 'r', size: 2 }, headers }),
      ),
    );
    expect(created(a.app, b.app)).toBe(1);
    for (const answer of answers) expect([201, 409]).toContain(answer.status);
    const bodies = new Set(answers.filter((x) => x.status === 201).map((x) => x.text));
    expect(bodies.size).toBe(1);
    // Once settled, every instance replays the one response.
    for (const app of [a.app, b.app]) {
      const late = await send(app.url, 'POST', '/api/things', { body: { name: 'r', size: 2 }, headers });
      expect(late).toMatchObject({ status: 201, text: [...bodies][0] });
    }
  });

  it('a repeat on the other instance while the first runs past idempotency.waitMs is a 409; a 5xx gives the key up for both', async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = await instance(prefix, undefined, 200);
    const b = await instance(prefix, undefined, 200);
    const headers = { 'idempotency-key': 'hold-1' };
    const first = send(a.app.url, 'POST', '/api/hold', { body: { name: 'h' }, headers });
    await expect.poll(() => a.app.seen.release.length, { timeout: 2000 }).toBe(1);
    const during = await send(b.app.url, 'POST', '/api/hold', { body: { name: 'h' }, headers });
    expect(during).toMatchObject({
      status: 409,
      json: { error: { code: 'KEEL_GATEWAY_IDEMPOTENCY_IN_FLIGHT' } },
    });
    a.app.seen.release[0]?.();
    const done = await first;
    expect(done.status).toBe(201);
    expect(await send(b.app.url, 'POST', '/api/hold', { body: { name: 'h' }, headers })).toMatchObject({
      status: 201,
      text: done.text,
    });
    expect(created(a.app, b.app)).toBe(1);

    const broken = { 'idempotency-key': 'broken-1' };
    expect(
      (await send(a.app.url, 'POST', '/api/broken', { body: { how: 'throw' }, headers: broken })).status,
    ).toBe(500);
    expect(await a.redis.exists(`${prefix}POST /api/broken broken-1`)).toBe(0);
    expect(
      (await send(b.app.url, 'POST', '/api/broken', { body: { how: 'other' }, headers: broken })).status,
    ).toBe(500);
  });

  it('an instance in another process answers the same: racing repeats on both run the action once', async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = await instance(prefix);
    const other = await otherProcess(prefix);
    const headers = { 'idempotency-key': 'proc-1' };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        send(i % 2 === 0 ? a.app.url : other.url, 'POST', '/api/things', {
          body: { name: 'p', size: 1 },
          headers,
        }),
      ),
    );
    expect(a.app.seen.created + (await other.count())).toBe(1);
    for (const answer of answers) expect([201, 409]).toContain(answer.status);
    const first = answers.find((x) => x.status === 201);
    for (const url of [a.app.url, other.url]) {
      expect(await send(url, 'POST', '/api/things', { body: { name: 'p', size: 1 }, headers })).toMatchObject(
        {
          status: 201,
          text: first?.text,
        },
      );
    }
    expect(
      await send(other.url, 'POST', '/api/things', { body: { name: 'q', size: 1 }, headers }),
    ).toMatchObject({
      status: 422,
    });
  });

  it('the store refuses a client without call() by name', () => {
    expect(() => new RedisIdempotencyStore({ redis: {} as never })).toThrow(
      /redis must be a Redis client with call\(\)/,
    );
    expect(
      () => new RedisIdempotencyStore({ redis: { call: async () => null }, prefx: 'x' } as never),
    ).toThrow(/unknown option "prefx"; known options: redis, prefix/);
  });
});
