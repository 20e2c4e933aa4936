import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  clearLongTimeout,
  MAX_TIMER_MS,
  onAbort,
  raceAbort,
  setLongTimeout,
  settleWithin,
  unrefLongTimeout,
} from './abort.ts';

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

  it('the same callback watching twice is two watches: ending one leaves the other', () => {
    const controller = new AbortController();
    let calls = 0;
    const callback = () => {
      calls++;
    };
    const first = onAbort(controller.signal, callback);
    onAbort(controller.signal, callback);
    first();
    expect(listeners(controller.signal)).toBe(1);
    controller.abort();
    expect(calls).toBe(1);
    expect(listeners(controller.signal)).toBe(0);
  });

  it('a watcher added after the first ended still hears the abort; the first one unwatched does not', () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const a = onAbort(controller.signal, () => seen.push('a'));
    onAbort(controller.signal, () => seen.push('b'));
    a();
    onAbort(controller.signal, () => seen.push('c'));
    controller.abort();
    expect(seen.sort()).toEqual(['b', 'c']);
    expect(listeners(controller.signal)).toBe(0);
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

describe('setLongTimeout', () => {
  it('is a plain timer up to MAX_TIMER_MS', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    setLongTimeout(fired, 1000);
    vi.advanceTimersByTime(999);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('waits the whole delay past 2³¹−1 ms instead of firing after 1 ms, with one timer pending at a time', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const thirtyDays = 30 * 24 * 3600 * 1000;
    setLongTimeout(fired, thirtyDays);
    vi.advanceTimersByTime(1);
    expect(fired).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(fired).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(thirtyDays - MAX_TIMER_MS - 2);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never fires for Infinity and holds no timer', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    setLongTimeout(fired, Number.POSITIVE_INFINITY);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('is cancelled by clearLongTimeout, in either form, before and after a re-arm', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    clearLongTimeout(setLongTimeout(fired, 10));
    const long = setLongTimeout(fired, 2 ** 32);
    vi.advanceTimersByTime(MAX_TIMER_MS + 5);
    clearLongTimeout(long);
    clearLongTimeout(undefined);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(2 ** 32);
    expect(fired).not.toHaveBeenCalled();
  });

  it('stays unref()ed across re-arms', () => {
    const long = setLongTimeout(() => {}, 2 ** 32);
    unrefLongTimeout(long);
    const inner = (long as unknown as { timer: NodeJS.Timeout }).timer;
    expect(inner.hasRef()).toBe(false);
    clearLongTimeout(long);
    const short = setLongTimeout(() => {}, 10);
    unrefLongTimeout(short);
    expect((short as NodeJS.Timeout).hasRef()).toBe(false);
    clearLongTimeout(short);
  });
});

describe('settleWithin with a timeout past 2³¹−1 ms', () => {
  it('does not give up after 1 ms', async () => {
    let done!: () => void;
    const work = new Promise<void>((resolve) => {
      done = resolve;
    });
    const result = settleWithin(work, 2 ** 31);
    await new Promise((resolve) => setTimeout(resolve, 20));
    done();
    await expect(result).resolves.toBe(true);
  });
});
