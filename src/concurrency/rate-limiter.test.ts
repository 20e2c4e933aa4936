import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { RateLimiter } from './rate-limiter.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** Acquires `n` tokens and records when each was granted, relative to now. */
function acquireAll(limiter: RateLimiter, n: number) {
  const start = performance.now();
  const times: number[] = [];
  const all = Promise.all(
    Array.from({ length: n }, () => limiter.acquire().then(() => times.push(performance.now() - start))),
  );
  return { all, times };
}

describe('RateLimiter', () => {
  it('lets `limit` through at once, then one every interval/limit', async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ limit: 5, interval: 1000 });
    const { all, times } = acquireAll(limiter, 8);
    await vi.advanceTimersByTimeAsync(1000);
    await all;
    expect(times).toEqual([0, 0, 0, 0, 0, 200, 400, 600]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('holds N per interval over a long run', async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ limit: 10, interval: 100 });
    const { all, times } = acquireAll(limiter, 100);
    await vi.advanceTimersByTimeAsync(2000);
    await all;
    // 10 at once, then 90 more at 10 per 100 ms.
    expect(times.at(-1)).toBe(900);
    for (let t = 0; t < 900; t += 100) {
      expect(times.filter((x) => x > t && x <= t + 100).length).toBeLessThanOrEqual(10);
    }
  });

  it('refills while idle, up to burst', async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ limit: 2, interval: 100, burst: 4 });
    expect(limiter.available).toBe(4);
    for (let i = 0; i < 4; i++) expect(limiter.tryAcquire()).toBe(true);
    expect(limiter.tryAcquire()).toBe(false);
    await vi.advanceTimersByTimeAsync(50);
    expect(limiter.available).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(limiter.available).toBe(4);
  });

  it('serves waiters in FIFO order; tryAcquire does not jump the queue', async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ limit: 1, interval: 100 });
    expect(limiter.tryAcquire()).toBe(true);
    const order: number[] = [];
    const waits = [1, 2].map((i) => limiter.acquire().then(() => order.push(i)));
    await vi.advanceTimersByTimeAsync(100);
    expect(limiter.tryAcquire()).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all(waits);
    expect(order).toEqual([1, 2]);
  });

  it('an aborted wait takes no token, rejects with the reason, and leaves no timer or listener', async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ limit: 1, interval: 1000 });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    expect(limiter.waiting).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    controller.abort('gave up');
    await expect(waiting).rejects.toBe('gave up');
    expect(limiter.waiting).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(limiter.tryAcquire()).toBe(true);
    await expect(limiter.acquire({ signal: AbortSignal.abort('early') })).rejects.toBe('early');
  });

  it('removes its listener when the wait ends with a token', async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ limit: 1, interval: 10 });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    await vi.advanceTimersByTimeAsync(10);
    await waiting;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it.each([
    [{ limit: 0, interval: 10 }, 'RateLimiter limit must be an integer ≥ 1; received 0'],
    [{ limit: 1, interval: 0 }, 'RateLimiter interval must be a number of milliseconds above 0; received 0'],
    [{ limit: 1, interval: -5 }, 'RateLimiter interval must be a number of milliseconds ≥ 0; received -5'],
    [{ limit: 1, interval: 10, burst: 0 }, 'RateLimiter burst must be an integer ≥ 1; received 0'],
    [undefined, 'RateLimiter limit must be an integer ≥ 1; received undefined'],
  ])('names a bad option %o', (options, message) => {
    expect(() => new RateLimiter(options as never)).toThrow(new InvalidArgumentError(message));
  });
});

describe('RateLimiter: intervals past 2³¹−1 ms', () => {
  it('makes a waiter wait the whole refill time past 2³¹−1 ms, not 1 ms', async () => {
    vi.useFakeTimers();
    const month = 30 * 24 * 60 * 60 * 1000;
    const limiter = new RateLimiter({ limit: 1, interval: month });
    expect(limiter.tryAcquire()).toBe(true);
    let granted = false;
    const waiting = limiter.acquire().then(() => {
      granted = true;
    });
    await vi.advanceTimersByTimeAsync(10);
    expect(granted).toBe(false);
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1);
    expect(granted).toBe(false);
    await vi.advanceTimersByTimeAsync(month);
    await waiting;
    expect(granted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clears its long timer when the last waiter gives up', async () => {
    vi.useFakeTimers();
    const limiter = new RateLimiter({ limit: 1, interval: 2 ** 33 });
    limiter.tryAcquire();
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    await vi.advanceTimersByTimeAsync(2 ** 31);
    controller.abort('enough');
    await expect(waiting).rejects.toBe('enough');
    expect(vi.getTimerCount()).toBe(0);
  });
});
