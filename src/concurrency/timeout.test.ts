import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, KeelError } from '../errors.ts';
import { sleep } from './sleep.ts';
import { TimeoutError, timeout } from './timeout.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('timeout', () => {
  it('settles like the work when it finishes in time, and clears its timer', async () => {
    vi.useFakeTimers();
    const result = timeout(async (signal) => {
      await sleep(50, { signal });
      return 'done';
    }, 100);
    await vi.advanceTimersByTimeAsync(50);
    await expect(result).resolves.toBe('done');
    expect(vi.getTimerCount()).toBe(0);
    await expect(timeout(() => Promise.reject(new Error('failed')), 100)).rejects.toThrow('failed');
    await expect(
      timeout(() => {
        throw new Error('sync');
      }, 100),
    ).rejects.toThrow('sync');
    await expect(timeout(() => 7, 100)).resolves.toBe(7);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with a retryable TimeoutError at the deadline and aborts the work’s signal', async () => {
    vi.useFakeTimers();
    let seen: AbortSignal | undefined;
    let stopped = false;
    const result = timeout(async (signal) => {
      seen = signal;
      await sleep(10_000, { signal }).catch((e: unknown) => {
        stopped = true;
        throw e;
      });
    }, 100).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(99);
    expect(seen?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await result;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toBeInstanceOf(KeelError);
    expect(error).toMatchObject({
      code: 'KEEL_TIMEOUT',
      retryable: true,
      ms: 100,
      message: 'Timed out after 100 ms',
    });
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(error);
    expect(stopped).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at the deadline even if the work ignores its signal, and ignores its late outcome', async () => {
    vi.useFakeTimers();
    const { promise, reject } = Promise.withResolvers<string>();
    const result = timeout(() => promise, 10).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    expect(await result).toBeInstanceOf(TimeoutError);
    // A late failure is handled, not an unhandled rejection (vitest would report one).
    reject(new Error('late'));
    await Promise.resolve();
  });

  it('rejects with the reason when the caller’s signal aborts first, and aborts the work', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const result = timeout(
      (signal) => {
        seen = signal;
        return new Promise(() => {});
      },
      1000,
      { signal: controller.signal },
    );
    controller.abort('cancelled');
    await expect(result).rejects.toBe('cancelled');
    expect(seen?.reason).toBe('cancelled');
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('removes its listener from the caller’s signal when the work finishes', async () => {
    const controller = new AbortController();
    await timeout(async () => 1, 1000, { signal: controller.signal });
    await expect(
      timeout(async () => Promise.reject(new Error('x')), 1000, { signal: controller.signal }),
    ).rejects.toThrow('x');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects at once, never calling the work, when the signal is already aborted', async () => {
    const fn = vi.fn();
    await expect(timeout(fn, 10, { signal: AbortSignal.abort('early') })).rejects.toBe('early');
    expect(fn).not.toHaveBeenCalled();
  });

  it('names a bad argument', () => {
    expect(() => timeout('x' as never, 10)).toThrow(
      new InvalidArgumentError('timeout() fn must be a function; received "x"'),
    );
    for (const ms of [-1, Number.NaN, Number.NEGATIVE_INFINITY, '5']) {
      expect(() => timeout(() => 1, ms as number)).toThrow(
        /^timeout\(\) ms must be a number of milliseconds ≥ 0 or Infinity; received /,
      );
    }
    expect(() => timeout(() => 1, 1, { signal: 3 as never })).toThrow(
      'timeout() signal must be an AbortSignal; received 3',
    );
  });
});

describe('timeout: deadlines past 2³¹−1 ms', () => {
  it('keeps a deadline past 2³¹−1 ms instead of firing after 1 ms, and clears it when fn settles', async () => {
    vi.useFakeTimers();
    const ms = 2 ** 31 + 1_000;
    let signal: AbortSignal | undefined;
    const result = timeout((s) => {
      signal = s;
      return sleep(2 ** 31 - 1).then(() => 'in time');
    }, ms);
    await vi.advanceTimersByTimeAsync(10);
    expect(signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1);
    await expect(result).resolves.toBe('in time');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fires a deadline past 2³¹−1 ms only once it has passed', async () => {
    vi.useFakeTimers();
    const ms = 2 ** 31 + 1_000;
    const result = timeout(() => new Promise(() => {}), ms);
    result.catch(() => {});
    await vi.advanceTimersByTimeAsync(ms - 1);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).rejects.toBeInstanceOf(TimeoutError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('with Infinity sets no deadline and no timer', async () => {
    vi.useFakeTimers();
    const result = timeout(() => 'done', Number.POSITIVE_INFINITY);
    expect(vi.getTimerCount()).toBe(0);
    await expect(result).resolves.toBe('done');
  });
});
