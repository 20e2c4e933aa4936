import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, KeelError } from '../errors.ts';
import { retry } from './retry.ts';
import { TimeoutError } from './timeout.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** A function failing `failures` times with `error`, then returning 'ok'; it records when each try started. */
function flaky(failures: number, error: () => unknown = () => new Error('flaky')) {
  const calls: { at: number; attempt: number; signal: AbortSignal }[] = [];
  const fn = async (signal: AbortSignal, attempt: number) => {
    calls.push({ at: performance.now(), attempt, signal });
    if (calls.length <= failures) throw error();
    return 'ok';
  };
  return { calls, fn };
}

describe('retry', () => {
  it('returns the first success, passing the try’s number', async () => {
    vi.useFakeTimers();
    const { calls, fn } = flaky(2);
    const result = retry(fn, { jitter: false });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('ok');
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
  });

  it('backs off exponentially without jitter: minDelay, then times factor, capped at maxDelay', async () => {
    vi.useFakeTimers();
    const { calls, fn } = flaky(5);
    const start = performance.now();
    const result = retry(fn, { attempts: 6, minDelay: 100, factor: 3, maxDelay: 1000, jitter: false });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('ok');
    const gaps = calls.map((c, i) => c.at - (i === 0 ? start : (calls[i - 1]?.at as number)));
    expect(gaps).toEqual([0, 100, 300, 900, 1000, 1000]);
  });

  it('keeps going with unbounded attempts long after factor ** n overflows, with minDelay 0 or not', async () => {
    vi.useFakeTimers();
    for (const minDelay of [0, 1]) {
      const { calls, fn } = flaky(400);
      const result = retry(fn, {
        attempts: Number.POSITIVE_INFINITY,
        minDelay,
        maxDelay: 10,
        factor: 10,
        jitter: false,
      });
      await vi.runAllTimersAsync();
      await expect(result).resolves.toBe('ok');
      expect(calls).toHaveLength(401);
      // Past the overflow the wait stays at maxDelay (or 0 when minDelay is 0).
      const last = (calls.at(-1)?.at ?? 0) - (calls.at(-2)?.at ?? 0);
      expect(last).toBe(minDelay === 0 ? 0 : 10);
    }
  });

  it('with full jitter waits a random time between 0 and the computed delay', async () => {
    vi.useFakeTimers();
    const random = vi.spyOn(Math, 'random').mockReturnValueOnce(0.5).mockReturnValueOnce(0.25);
    const { calls, fn } = flaky(2);
    const result = retry(fn, { minDelay: 100, factor: 2 });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('ok');
    expect(random).toHaveBeenCalledTimes(2);
    expect([
      (calls[1]?.at as number) - (calls[0]?.at as number),
      (calls[2]?.at as number) - (calls[1]?.at as number),
    ]).toEqual([50, 50]);
  });

  it('rejects with the last failure once the attempts are spent', async () => {
    vi.useFakeTimers();
    let n = 0;
    const result = retry(
      async () => {
        throw new Error(`failure ${++n}`);
      },
      { attempts: 3, jitter: false },
    ).catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(await result).toEqual(new Error('failure 3'));
    expect(n).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops at once on an error with retryable: false, and retries one with retryable: true', async () => {
    vi.useFakeTimers();
    const final = new KeelError('KEEL_TEST', 'final');
    const once = flaky(5, () => final);
    await expect(retry(once.fn, { attempts: 5 })).rejects.toBe(final);
    expect(once.calls).toHaveLength(1);

    const transient = flaky(1, () => new TimeoutError(10));
    const result = retry(transient.fn);
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('ok');
  });

  it('asks retryIf about other failures, with the error and the try’s number', async () => {
    vi.useFakeTimers();
    const retryIf = vi.fn(
      (error: unknown, attempt: number) => (error as Error).message === 'again' && attempt < 2,
    );
    const { calls, fn } = flaky(5, () => new Error('again'));
    const result = retry(fn, { attempts: 5, retryIf }).catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(await result).toEqual(new Error('again'));
    expect(calls).toHaveLength(2);
    expect(retryIf.mock.calls.map((c) => c[1])).toEqual([1, 2]);

    const never = vi.fn(() => true);
    const final = Object.assign(new Error('final'), { retryable: false });
    await expect(retry(flaky(3, () => final).fn, { retryIf: never })).rejects.toBe(final);
    expect(never).not.toHaveBeenCalled();
  });

  it('stops at once when the signal aborts during a wait, clearing the timer', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const { calls, fn } = flaky(5);
    const result = retry(fn, { attempts: 5, minDelay: 1000, jitter: false, signal: controller.signal });
    await vi.advanceTimersByTimeAsync(500);
    controller.abort(new Error('stop'));
    await expect(result).rejects.toThrow('stop');
    expect(calls).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('stops at once when the signal aborts during a try, even if the try ignores it', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const result = retry(
      (signal) => {
        seen = signal;
        return new Promise(() => {});
      },
      { signal: controller.signal },
    );
    controller.abort('stop');
    await expect(result).rejects.toBe('stop');
    expect(seen).toBe(controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('reports the abort, not the failure it caused, when a try fails because of it', async () => {
    const controller = new AbortController();
    const result = retry(
      async (signal) => {
        controller.abort('stop');
        throw new Error(`failed as ${String(signal.reason)}`);
      },
      { signal: controller.signal },
    );
    await expect(result).rejects.toBe('stop');
  });

  it('rejects at once, never calling fn, with an aborted signal', async () => {
    const fn = vi.fn();
    await expect(retry(fn, { signal: AbortSignal.abort('early') })).rejects.toBe('early');
    expect(fn).not.toHaveBeenCalled();
  });

  it('gives fn a signal of its own when none is given', async () => {
    const seen = await retry((signal) => signal);
    expect(seen).toBeInstanceOf(AbortSignal);
    expect(seen.aborted).toBe(false);
  });

  it.each([
    [{ attempts: 0 }, 'retry() attempts must be an integer ≥ 1 or Infinity; received 0'],
    [{ minDelay: -1 }, 'retry() minDelay must be a number of milliseconds ≥ 0; received -1'],
    [{ maxDelay: Number.NaN }, 'retry() maxDelay must be a number of milliseconds ≥ 0; received NaN'],
    [
      { maxDelay: Number.POSITIVE_INFINITY },
      'retry() maxDelay must be a number of milliseconds ≥ 0; received Infinity',
    ],
    [{ minDelay: 500, maxDelay: 100 }, 'retry() maxDelay must be at least minDelay (500); received 100'],
    [{ factor: 0.5 }, 'retry() factor must be a finite number ≥ 1; received 0.5'],
    [{ jitter: 'full' }, 'retry() jitter must be a boolean; received "full"'],
    [{ retryIf: true }, 'retry() retryIf must be a function; received true'],
    [{ signal: {} }, 'retry() signal must be an AbortSignal; received an object'],
  ])('names a bad option %o', (options, message) => {
    expect(() => retry(() => 1, options as never)).toThrow(new InvalidArgumentError(message));
  });

  it('names a bad fn', () => {
    expect(() => retry(undefined as never)).toThrow('retry() fn must be a function; received undefined');
  });
});

describe('retry: delays past 2³¹−1 ms', () => {
  it('waits the whole of a backoff past 2³¹−1 ms before the next try', async () => {
    vi.useFakeTimers();
    const day = 24 * 60 * 60 * 1000;
    let tries = 0;
    const result = retry(
      () => {
        tries++;
        if (tries === 1) throw new Error('once');
        return 'second';
      },
      { minDelay: 30 * day, maxDelay: 30 * day, jitter: false },
    );
    await vi.advanceTimersByTimeAsync(10);
    expect(tries).toBe(1);
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1);
    expect(tries).toBe(1);
    await vi.advanceTimersByTimeAsync(30 * day);
    await expect(result).resolves.toBe('second');
    expect(tries).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });
});
