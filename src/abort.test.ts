import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { onAbort, raceAbort, settleWithin } from './abort.ts';

const listeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;

afterEach(() => {
  vi.useRealTimers();
});

describe('onAbort', () => {
  it('shares one listener among every watcher and calls each once on abort', () => {
    const controller = new AbortController();
    const calls: number[] = [];
    for (let i = 0; i < 100; i++) onAbort(controller.signal, () => calls.push(i));
    expect(listeners(controller.signal)).toBe(1);
    controller.abort();
    controller.abort();
    expect(calls).toHaveLength(100);
    expect(listeners(controller.signal)).toBe(0);
  });

  it('removes the listener with the last watcher; unwatching twice is harmless', () => {
    const { signal } = new AbortController();
    const a = onAbort(signal, () => {});
    const b = onAbort(signal, () => {});
    a();
    a();
    expect(listeners(signal)).toBe(1);
    b();
    expect(listeners(signal)).toBe(0);
  });

  it('a watcher that throws does not keep the abort from the others; its error is rethrown apart', () => {
    const deferred: (() => void)[] = [];
    vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((fn) => {
      deferred.push(fn);
    });
    const controller = new AbortController();
    const seen: string[] = [];
    onAbort(controller.signal, () => {
      throw new Error('watcher broke');
    });
    onAbort(controller.signal, () => seen.push('second'));
    controller.abort();
    expect(seen).toEqual(['second']);
    expect(deferred).toHaveLength(1);
    expect(() => deferred[0]?.()).toThrow('watcher broke');
  });
});

describe('raceAbort', () => {
  it('settles like the promise when the signal stays quiet, then stops watching', async () => {
    const { signal } = new AbortController();
    await expect(raceAbort(Promise.resolve(1), signal)).resolves.toBe(1);
    await expect(raceAbort(Promise.reject(new Error('no')), signal)).rejects.toThrow('no');
    expect(listeners(signal)).toBe(0);
  });

  it('rejects with the reason at once on abort, and at once for an aborted signal', async () => {
    const controller = new AbortController();
    const never = new Promise<never>(() => {});
    const racing = raceAbort(never, controller.signal);
    controller.abort(new Error('stop'));
    await expect(racing).rejects.toThrow('stop');
    await expect(raceAbort(never, AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
    await expect(raceAbort(Promise.resolve(2), undefined)).resolves.toBe(2);
  });
});

describe('settleWithin', () => {
  it('is true once the work settles, rejected or not; leaves no timer', async () => {
    vi.useFakeTimers();
    await expect(settleWithin(Promise.reject(new Error('x')), 1000)).resolves.toBe(true);
    await expect(settleWithin([Promise.resolve(1), Promise.reject(new Error('y'))], 1000)).resolves.toBe(
      true,
    );
    expect(vi.getTimerCount()).toBe(0);
  });

  it('is false at the deadline, or when the signal aborts first', async () => {
    vi.useFakeTimers();
    const never = new Promise<never>(() => {});
    const timed = settleWithin(never, 1000);
    await vi.advanceTimersByTimeAsync(1000);
    await expect(timed).resolves.toBe(false);
    const controller = new AbortController();
    const aborted = settleWithin(never, Number.POSITIVE_INFINITY, controller.signal);
    expect(vi.getTimerCount()).toBe(0);
    controller.abort();
    await expect(aborted).resolves.toBe(false);
    expect(listeners(controller.signal)).toBe(0);
    await expect(settleWithin(never, 10, AbortSignal.abort())).resolves.toBe(false);
  });
});
