/** Idempotency-Key over real sockets (memory store), and the memory store's bounds and expiry. */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { send, startTestApp, type TestApp } from '../../test/fixtures/gateway-app.ts';
import {
  baselineResources,
  expectReleased,
  type ResourceCount,
} from '../transport/contract/context.contract.ts';
import { MemoryIdempotencyStore } from './index.ts';

// Every app, broker and request a test made is closed by now: none may leave a socket or a timer running.
let baseline: ResourceCount = { sockets: 0, timers: 0 };
beforeAll(async () => {
  baseline = await baselineResources();
});
afterAll(() => expectReleased(baseline, 3000));

describe('Idempotency-Key (memory store)', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('a repeat gets the first response (status, body, Location) and the action runs once; the call sees the key', async () => {
    t = await startTestApp();
    const headers = { 'idempotency-key': 'order-1' };
    const first = await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    expect(first.status).toBe(201);
    expect(t.seen.lastKey).toBe('order-1');
    const again = await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    // The repeat has its own request id.
    expect(again.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'));
    expect(t.seen.created).toBe(1);
    // A quoted key (the draft's sf-string form) is the same key.
    const quoted = await send(t.url, 'POST', '/api/things', {
      body: { name: 'a', size: 1 },
      headers: { 'idempotency-key': '"order-1"' },
    });
    expect(quoted.text).toBe(first.text);
    expect(t.seen.created).toBe(1);
  });

  it('the same key with a different body is a 422, and the action does not run', async () => {
    t = await startTestApp();
    const headers = { 'idempotency-key': 'k-422' };
    await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    const other = await send(t.url, 'POST', '/api/things', { body: { name: 'b', size: 1 }, headers });
    expect(other).toMatchObject({
      status: 422,
      json: { error: { code: 'KEEL_GATEWAY_IDEMPOTENCY_MISMATCH' } },
    });
    expect(t.seen.created).toBe(1);
  });

  it('a repeat while the first still runs waits for it and gets the first response (a load balancer retry, say)', async () => {
    t = await startTestApp();
    const { url, seen } = t;
    const headers = { 'idempotency-key': 'k-wait' };
    const first = send(url, 'POST', '/api/hold', { body: { name: 'w' }, headers });
    await expect.poll(() => seen.release.length, { timeout: 2000 }).toBe(1);
    const during = send(url, 'POST', '/api/hold', { body: { name: 'w' }, headers });
    await new Promise((resolve) => setTimeout(resolve, 200));
    seen.release[0]?.();
    const [done, repeat] = await Promise.all([first, during]);
    expect(done.status).toBe(201);
    expect(repeat).toMatchObject({ status: 201, text: done.text });
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    expect(seen.created).toBe(1);
  });

  it('a repeat while the first still runs past idempotency.waitMs gets 409 with Retry-After; after it finishes, the first response', async () => {
    t = await startTestApp({ idempotency: { waitMs: 200 } });
    const { url, seen } = t;
    const headers = { 'idempotency-key': 'k-409' };
    const first = send(url, 'POST', '/api/hold', { body: { name: 'a' }, headers });
    await expect.poll(() => seen.release.length, { timeout: 2000 }).toBe(1);
    const during = await send(url, 'POST', '/api/hold', { body: { name: 'a' }, headers });
    expect(during).toMatchObject({
      status: 409,
      json: { error: { code: 'KEEL_GATEWAY_IDEMPOTENCY_IN_FLIGHT' } },
    });
    expect(during.headers.get('retry-after')).toBe('1');
    seen.release[0]?.();
    const done = await first;
    expect(done.status).toBe(201);
    const after = await send(url, 'POST', '/api/hold', { body: { name: 'a' }, headers });
    expect(after).toMatchObject({ status: 201, text: done.text });
    expect(seen.created).toBe(1);
  });

  it('many concurrent requests with one key run the action once; every other one is a 409 or the replay', async () => {
    t = await startTestApp();
    const { url, seen } = t;
    const headers = { 'idempotency-key': 'k-many' };
    const all = Array.from({ length: 10 }, () =>
      send(url, 'POST', '/api/things', { body: { name: 'c', size: 3 }, headers }),
    );
    const answers = await Promise.all(all);
    expect(seen.created).toBe(1);
    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((a) => a.text)).size).toBe(1);
    for (const a of answers) expect([201, 409]).toContain(a.status);
  });

  it('keys are scoped per route; a POST without a key is not deduplicated', async () => {
    t = await startTestApp();
    const headers = { 'idempotency-key': 'shared' };
    await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    const echo = await send(t.url, 'POST', '/api/echo', { body: { x: 1 }, headers });
    expect(echo.status).toBe(200);
    expect(echo.headers.get('idempotent-replayed')).toBeNull();
    await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 } });
    await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 } });
    expect(t.seen.created).toBe(3);
  });

  it('a 5xx gives the key up, so a retry runs again; a 4xx is kept and replayed', async () => {
    t = await startTestApp();
    const headers = { 'idempotency-key': 'k-5xx' };
    expect((await send(t.url, 'POST', '/api/broken', { body: { how: 'throw' }, headers })).status).toBe(500);
    // Had the key been kept, the repeat would replay the 500; a different body proves it was given up.
    expect((await send(t.url, 'POST', '/api/broken', { body: { how: 'other' }, headers })).status).toBe(500);
    const conflict = { 'idempotency-key': 'k-409-kept' };
    const first = await send(t.url, 'POST', '/api/things', {
      body: { name: 'taken', size: 1 },
      headers: conflict,
    });
    expect(first.status).toBe(409);
    const again = await send(t.url, 'POST', '/api/things', {
      body: { name: 'taken', size: 1 },
      headers: conflict,
    });
    expect(again).toMatchObject({ status: 409, text: first.text });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it('a client that leaves before its answer gives the key up: a retry runs the action', async () => {
    const store = new MemoryIdempotencyStore();
    t = await startTestApp({ idempotency: { store } });
    const { url, seen } = t;
    const headers = { 'idempotency-key': 'k-left' };
    const left = new AbortController();
    const first = fetch(`${url}/api/hold`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'a' }),
      signal: left.signal,
    }).catch(() => undefined);
    await expect.poll(() => seen.release.length, { timeout: 2000 }).toBe(1);
    expect(store.size).toBe(1);
    left.abort();
    await first;
    // The claim goes when the aborted call's answer (499) is sent.
    await expect.poll(() => store.size, { timeout: 2000 }).toBe(0);
    const retry = send(url, 'POST', '/api/hold', { body: { name: 'a' }, headers });
    await expect.poll(() => seen.release.length, { timeout: 2000 }).toBe(2);
    seen.release[1]?.();
    expect((await retry).status).toBe(201);
    expect(seen.created).toBe(2);
  });

  it('a malformed key is a 400; idempotency: false ignores the header', async () => {
    t = await startTestApp();
    for (const bad of ['', 'a'.repeat(201), 'has space', 'quote"inside']) {
      const res = await send(t.url, 'POST', '/api/things', {
        body: { name: 'a', size: 1 },
        headers: { 'idempotency-key': bad },
      });
      expect(res.status, bad).toBe(400);
      expect(res.json.error.code).toBe('KEEL_GATEWAY_IDEMPOTENCY_KEY');
    }
    expect(t.seen.created).toBe(0);
    await t.close();
    t = await startTestApp({ idempotency: false });
    const headers = { 'idempotency-key': 'off' };
    await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    expect(t.seen.created).toBe(2);
  });

  it('a store that fails: 503 with Retry-After before the action runs; a failure to keep the answer leaves it standing', async () => {
    const broken = {
      begin: async () => {
        throw new Error('store down');
      },
      complete: async () => {},
      release: async () => {},
    };
    t = await startTestApp({ idempotency: { store: broken } });
    const headers = { 'idempotency-key': 'k-store' };
    const refused = await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    expect(refused).toMatchObject({
      status: 503,
      json: { error: { code: 'KEEL_GATEWAY_IDEMPOTENCY_STORE' } },
    });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.text).not.toMatch(/store down/);
    expect(t.seen.created).toBe(0);
    await t.close();
    const memory = new MemoryIdempotencyStore();
    const forgetful = {
      begin: memory.begin.bind(memory),
      complete: async () => {
        throw new Error('store down');
      },
      release: memory.release.bind(memory),
    };
    t = await startTestApp({ idempotency: { store: forgetful } });
    const answered = await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    expect(answered.status).toBe(201);
    expect(t.seen.created).toBe(1);
  });

  it('a store that never answers (a frozen Redis) fails the check with 503 within its bound; an unkept answer is still sent', async () => {
    const silent = new Promise<never>(() => {});
    const frozen = { begin: () => silent, complete: () => silent, release: () => silent };
    t = await startTestApp({ idempotency: { store: frozen } });
    const headers = { 'idempotency-key': 'frozen-1' };
    const started = Date.now();
    const refused = await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    expect(refused).toMatchObject({
      status: 503,
      json: { error: { code: 'KEEL_GATEWAY_IDEMPOTENCY_STORE' } },
    });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(t.seen.created).toBe(0);
    await t.close();
    const memory = new MemoryIdempotencyStore();
    const stuck = { begin: memory.begin.bind(memory), complete: () => silent, release: () => silent };
    t = await startTestApp({ idempotency: { store: stuck } });
    const sent = Date.now();
    const answered = await send(t.url, 'POST', '/api/things', { body: { name: 'b', size: 1 }, headers });
    expect(answered.status).toBe(201);
    expect(Date.now() - sent).toBeLessThan(4000);
  });

  it('a repeat after the window runs again', async () => {
    t = await startTestApp({ idempotency: { ttlMs: 100 } });
    const headers = { 'idempotency-key': 'short' };
    await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await send(t.url, 'POST', '/api/things', { body: { name: 'a', size: 1 }, headers });
    expect(t.seen.created).toBe(2);
  });
});

describe('MemoryIdempotencyStore', () => {
  const response = { status: 201, headers: { 'content-type': 'application/json' }, body: '{}' };

  it('claims, reports running, keeps the response, and lets only the claim holder complete or release', async () => {
    const store = new MemoryIdempotencyStore();
    const claim = await store.begin('k', 'f1', 1000);
    expect(claim).toEqual({ token: expect.any(String), fingerprint: 'f1' });
    expect(await store.begin('k', 'f2', 1000)).toEqual({ state: 'running', fingerprint: 'f1' });
    await store.complete('k', { token: 'someone else', fingerprint: 'f1' }, response, 1000);
    await store.release('k', { token: 'someone else', fingerprint: 'f1' });
    expect(await store.begin('k', 'f1', 1000)).toEqual({ state: 'running', fingerprint: 'f1' });
    await store.complete('k', claim as never, response, 1000);
    expect(await store.begin('k', 'f1', 1000)).toEqual({ state: 'done', fingerprint: 'f1', response });
  });

  it('a claim expires after its lease, a response after its ttl', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const store = new MemoryIdempotencyStore();
      await store.begin('k', 'f', 100);
      vi.setSystemTime(Date.now() + 101);
      const again = await store.begin('k', 'f', 100);
      expect(again).toHaveProperty('token');
      await store.complete('k', again as never, response, 500);
      vi.setSystemTime(Date.now() + 499);
      expect(await store.begin('k', 'f', 100)).toMatchObject({ state: 'done' });
      vi.setSystemTime(Date.now() + 2);
      expect(await store.begin('k', 'f', 100)).toHaveProperty('token');
    } finally {
      vi.useRealTimers();
    }
  });

  it('holds at most maxKeys, forgetting the expired and then the oldest first', async () => {
    const store = new MemoryIdempotencyStore({ maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'd', 'e']) await store.begin(key, 'f', 60_000);
    expect(store.size).toBe(3);
    expect(await store.begin('e', 'f', 1)).toMatchObject({ state: 'running' });
    expect(await store.begin('a', 'f', 60_000)).toHaveProperty('token');
    expect(store.size).toBe(3);
  });

  it('refuses bad options by name', () => {
    expect(() => new MemoryIdempotencyStore({ maxKeys: 0 })).toThrow(/maxKeys must be an integer ≥ 1/);
    expect(() => new MemoryIdempotencyStore({ max: 1 } as never)).toThrow(
      /unknown option "max"; known options: maxKeys/,
    );
  });
});
