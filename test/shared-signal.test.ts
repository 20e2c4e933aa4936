import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Container, EventBus, lazy, openTransport, token } from '../src/index.ts';

/** Every operation that watches a caller's signal shares one listener on it, whatever the module. */
const listeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;
const N = 1000;

describe('one long-lived signal shared by many operations', () => {
  it('EventBus: on, once, stream and emitAsync add one listener in all, and remove it when done', async () => {
    // Many listeners on one topic are the point here, not a leak: no leak warning.
    const bus = new EventBus<{ a: number; b: number }>({ maxListeners: Number.POSITIVE_INFINITY });
    const controller = new AbortController();
    const { signal } = controller;
    const subs = Array.from({ length: N }, () => bus.on('a', () => {}, { signal }));
    const nexts = Array.from({ length: N }, () => bus.once('b', { signal }));
    const streams = Array.from({ length: 10 }, () => bus.stream('a', { signal }));
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    bus.on('b', () => gate);
    const emits = Array.from({ length: N }, () => bus.emitAsync('b', 1, { signal }));
    expect(listeners(signal)).toBe(1);
    release();
    await Promise.all([...nexts, ...emits]);
    for (const sub of subs) sub();
    for (const stream of streams) await stream[Symbol.asyncDispose]();
    expect(listeners(signal)).toBe(0);
    expect(bus.listenerCount('a')).toBe(0);
  });

  it('EventBus: an abort reaches every subscription through the one listener', () => {
    const bus = new EventBus<{ a: number }>({ maxListeners: Number.POSITIVE_INFINITY });
    const controller = new AbortController();
    for (let i = 0; i < N; i++) bus.on('a', () => {}, { signal: controller.signal });
    expect(bus.listenerCount('a')).toBe(N);
    controller.abort();
    expect(bus.listenerCount('a')).toBe(0);
    expect(listeners(controller.signal)).toBe(0);
  });

  it('lazy().get: many waiting callers, one listener; none once settled', async () => {
    let release = (_: string) => {};
    const value = lazy(() => new Promise<string>((resolve) => (release = resolve)));
    const { signal } = new AbortController();
    const gets = Array.from({ length: N }, () => value.get({ signal }));
    expect(listeners(signal)).toBe(1);
    release('ready');
    expect(new Set(await Promise.all(gets))).toEqual(new Set(['ready']));
    expect(listeners(signal)).toBe(0);
  });

  it('Container.resolveAsync: many waiting callers, one listener; none once settled', async () => {
    const Slow = token<string>('slow');
    let release = (_: string) => {};
    const container = new Container().register(Slow, {
      lifetime: 'singleton',
      factory: () => new Promise<string>((resolve) => (release = resolve)),
    });
    const { signal } = new AbortController();
    const resolutions = Array.from({ length: N }, () => container.resolveAsync(Slow, { signal }));
    expect(listeners(signal)).toBe(1);
    release('built');
    expect(new Set(await Promise.all(resolutions))).toEqual(new Set(['built']));
    expect(listeners(signal)).toBe(0);
    await container.dispose();
  });

  it('Transport: subscriptions and requests on one signal share one listener; none once done', async () => {
    await using transport = await openTransport('memory://shared-signal');
    const controller = new AbortController();
    const { signal } = controller;
    const subs = Array.from({ length: 100 }, (_, i) => transport.subscribe(`s.${i}`, () => {}, { signal }));
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    transport.subscribe('echo', async (n: unknown) => {
      await gate;
      return n;
    });
    const replies = Array.from({ length: N }, (_, i) => transport.request('echo', i, { signal }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(listeners(signal)).toBe(1);
    release();
    expect(await Promise.all(replies)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(listeners(signal)).toBe(1);
    controller.abort();
    expect(listeners(signal)).toBe(0);
    for (const sub of subs) sub();
  });
});
