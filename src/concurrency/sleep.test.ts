import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { sleep } from './sleep.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('sleep', () => {
  it('resolves after the delay, not before', async () => {
    vi.useFakeTimers();
    let done = false;
    const slept = sleep(100).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await slept;
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with the reason on abort, clearing its timer and listener', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const slept = sleep(1000, { signal: controller.signal });
    expect(vi.getTimerCount()).toBe(1);
    controller.abort(new Error('woken'));
    await expect(slept).rejects.toThrow('woken');
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('removes its listener when it resolves', async () => {
    const controller = new AbortController();
    await sleep(1, { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects at once with an aborted signal, setting no timer', async () => {
    vi.useFakeTimers();
    await expect(sleep(10, { signal: AbortSignal.abort('early') })).rejects.toBe('early');
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, undefined, '10'])('rejects a delay of %o', (ms) => {
    expect(() => sleep(ms as number)).toThrow(InvalidArgumentError);
    expect(() => sleep(ms as number)).toThrow(
      /^sleep\(\) ms must be a number of milliseconds ≥ 0; received /,
    );
  });

  it('waits the whole of a delay past 2³¹−1 ms rather than firing after 1 ms', async () => {
    vi.useFakeTimers();
    const ms = 2 ** 31 + 5_000;
    let done = false;
    const slept = sleep(ms).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(ms);
    await slept;
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clears every timer of a long delay on abort', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const slept = sleep(2 ** 32, { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(2 ** 31);
    controller.abort('stop');
    await expect(slept).rejects.toBe('stop');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('accepts zero and the longest delay a timer can hold', async () => {
    await sleep(0);
    const controller = new AbortController();
    const long = sleep(2 ** 31 - 1, { signal: controller.signal });
    controller.abort('done');
    await expect(long).rejects.toBe('done');
  });
});
