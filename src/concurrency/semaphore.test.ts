import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { Semaphore } from './semaphore.ts';

const ticks = async (n = 3): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('Semaphore', () => {
  it('hands out up to `permits` permits at once, then makes callers wait', async () => {
    const semaphore = new Semaphore(2);
    const a = await semaphore.acquire();
    const b = await semaphore.acquire();
    expect(semaphore.available).toBe(0);
    let third = false;
    const waiting = semaphore.acquire().then((permit) => {
      third = true;
      return permit;
    });
    await ticks();
    expect(third).toBe(false);
    expect(semaphore.waiting).toBe(1);
    a.release();
    const c = await waiting;
    expect(semaphore.available).toBe(0);
    b.release();
    c.release();
    expect(semaphore.available).toBe(2);
    expect(semaphore.permits).toBe(2);
  });

  it('serves waiters in FIFO order, and a release goes to the longest waiter, not to tryAcquire', async () => {
    const semaphore = new Semaphore(1);
    const held = await semaphore.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((i) =>
      semaphore.acquire().then((permit) => {
        order.push(i);
        permit.release();
      }),
    );
    expect(semaphore.tryAcquire()).toBeUndefined();
    held.release();
    expect(semaphore.tryAcquire()).toBeUndefined();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
    expect(semaphore.available).toBe(1);
  });

  it('releasing a permit twice returns it once; `using` releases it', async () => {
    const semaphore = new Semaphore(1);
    const permit = await semaphore.acquire();
    permit.release();
    permit.release();
    expect(semaphore.available).toBe(1);
    {
      using _permit = await semaphore.acquire();
      expect(semaphore.available).toBe(0);
    }
    expect(semaphore.available).toBe(1);
  });

  it('an aborted wait takes no permit, rejects with the reason and leaves no listener', async () => {
    const semaphore = new Semaphore(1);
    const held = await semaphore.acquire();
    const controller = new AbortController();
    const aborted = semaphore.acquire({ signal: controller.signal });
    const next = semaphore.acquire();
    controller.abort(new Error('gave up'));
    await expect(aborted).rejects.toThrow('gave up');
    expect(semaphore.waiting).toBe(1);
    held.release();
    (await next).release();
    expect(semaphore.available).toBe(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await expect(semaphore.acquire({ signal: AbortSignal.abort('early') })).rejects.toBe('early');
    expect(semaphore.available).toBe(1);
  });

  it('removes its listener when the wait ends with a permit', async () => {
    const semaphore = new Semaphore(1);
    const held = await semaphore.acquire();
    const controller = new AbortController();
    const waiting = semaphore.acquire({ signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    held.release();
    (await waiting).release();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('names bad arguments', () => {
    for (const bad of [0, -1, 1.5, Number.POSITIVE_INFINITY, '2']) {
      expect(() => new Semaphore(bad as number)).toThrow(InvalidArgumentError);
    }
    expect(() => new Semaphore(0)).toThrow('Semaphore permits must be an integer ≥ 1; received 0');
    expect(() => new Semaphore(1).acquire({ signal: 'x' as never })).toThrow(
      'Semaphore.acquire() signal must be an AbortSignal; received "x"',
    );
  });
});
