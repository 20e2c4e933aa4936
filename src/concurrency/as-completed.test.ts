import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { asCompleted } from './as-completed.ts';
import { sleep } from './sleep.ts';

afterEach(() => {
  vi.useRealTimers();
});

const resolveAfter = <T>(ms: number, value: T): Promise<T> => sleep(ms).then(() => value);

describe('asCompleted', () => {
  it('yields values in the order they settle, fastest first', async () => {
    vi.useFakeTimers();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const value of asCompleted([
        resolveAfter(30, 'slow'),
        resolveAfter(10, 'fast'),
        resolveAfter(20, 'middle'),
      ])) {
        seen.push(value);
      }
    })();
    await vi.advanceTimersByTimeAsync(30);
    await loop;
    expect(seen).toEqual(['fast', 'middle', 'slow']);
  });

  it('accepts plain values and any iterable, and ends at once on an empty one', async () => {
    const seen: unknown[] = [];
    for await (const value of asCompleted(new Set([1, Promise.resolve(2)]))) seen.push(value);
    expect(seen.sort()).toEqual([1, 2]);
    for await (const _ of asCompleted([])) throw new Error('nothing to yield');
  });

  it('throws a rejection at its turn; the other failures are handled', async () => {
    vi.useFakeTimers();
    const boom = new Error('boom');
    const seen: string[] = [];
    const loop = (async () => {
      for await (const value of asCompleted([
        resolveAfter(10, 'first'),
        sleep(20).then(() => Promise.reject(boom)),
        sleep(30).then(() => Promise.reject(new Error('later, unread'))),
      ])) {
        seen.push(value);
      }
    })().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(30);
    expect(await loop).toBe(boom);
    expect(seen).toEqual(['first']);
  });

  it('stops waiting when its signal aborts, leaving no listener', async () => {
    const controller = new AbortController();
    const iterator = asCompleted([new Promise(() => {}), Promise.resolve('ready')], {
      signal: controller.signal,
    });
    await expect(iterator.next()).resolves.toEqual({ value: 'ready', done: false });
    const pending = iterator.next();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort('stop');
    await expect(pending).rejects.toBe('stop');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await expect(iterator.next()).resolves.toEqual({ value: undefined, done: true });
  });

  it('leaves no listener once a wait ends with a value, and rejects with an already aborted signal', async () => {
    const controller = new AbortController();
    const values: number[] = [];
    for await (const value of asCompleted([sleep(1).then(() => 1)], { signal: controller.signal }))
      values.push(value);
    expect(values).toEqual([1]);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    const iterator = asCompleted([new Promise(() => {})], { signal: AbortSignal.abort('early') });
    await expect(iterator.next()).rejects.toBe('early');
  });

  it('ends on abort even when values are waiting to be read', async () => {
    const controller = new AbortController();
    const iterator = asCompleted([1, 2, 3], { signal: controller.signal });
    await expect(iterator.next()).resolves.toEqual({ value: 1, done: false });
    controller.abort('stop');
    await expect(iterator.next()).rejects.toBe('stop');
    await expect(iterator.next()).resolves.toEqual({ value: undefined, done: true });
  });

  it('names bad arguments', () => {
    expect(() => asCompleted(5 as never)).toThrow(
      new InvalidArgumentError(
        'asCompleted() promises must be an iterable of promises or values; received 5',
      ),
    );
    expect(() => asCompleted([], { signal: true as never })).toThrow(
      'asCompleted() signal must be an AbortSignal; received true',
    );
  });
});
