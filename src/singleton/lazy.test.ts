import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { lazy } from './lazy.ts';

describe('lazy()', () => {
  it('runs init once for many concurrent get() calls and shares the result', async () => {
    let calls = 0;
    const gate = Promise.withResolvers<{ id: number }>();
    const pool = lazy(() => {
      calls++;
      return gate.promise;
    });
    const gets = Array.from({ length: 100 }, () => pool.get());
    expect(calls).toBe(1);
    expect(pool.initialized).toBe(false);
    gate.resolve({ id: 7 });
    const values = await Promise.all(gets);
    expect(new Set(values).size).toBe(1);
    expect(values[0]).toEqual({ id: 7 });
    expect(await pool.get()).toBe(values[0]);
    expect(calls).toBe(1);
    expect(pool.initialized).toBe(true);
  });

  it('does not start init before the first get()', () => {
    let calls = 0;
    lazy(() => calls++);
    expect(calls).toBe(0);
  });

  it('accepts a synchronous init', async () => {
    const config = lazy(() => ({ port: 8080 }));
    expect(await config.get()).toEqual({ port: 8080 });
    expect(config.peek()).toEqual({ port: 8080 });
  });

  it('forgets a failed init: every waiting caller sees the failure, the next get() tries again', async () => {
    let calls = 0;
    const resource = lazy(async () => {
      calls++;
      if (calls === 1) throw new Error('connection refused');
      return 'connected';
    });
    const [a, b] = await Promise.allSettled([resource.get(), resource.get()]);
    expect(a).toMatchObject({ status: 'rejected', reason: new Error('connection refused') });
    expect(b).toMatchObject({ status: 'rejected', reason: new Error('connection refused') });
    expect(resource.initialized).toBe(false);
    expect(await resource.get()).toBe('connected');
    expect(calls).toBe(2);
  });

  it('treats a synchronous throw in init like a rejection', async () => {
    const broken = lazy(() => {
      throw new Error('bad config');
    });
    await expect(broken.get()).rejects.toThrow('bad config');
  });

  it('reset() forgets the value so the next get() runs init again', async () => {
    let calls = 0;
    const value = lazy(() => ++calls);
    expect(await value.get()).toBe(1);
    value.reset();
    expect(value.initialized).toBe(false);
    expect(value.peek()).toBeUndefined();
    expect(await value.get()).toBe(2);
  });

  it('an init in flight during reset() does not bring its value back afterwards', async () => {
    const gates = [Promise.withResolvers<string>(), Promise.withResolvers<string>()];
    let calls = 0;
    const value = lazy(() => (gates[calls++] as PromiseWithResolvers<string>).promise);
    const old = value.get();
    value.reset();
    const fresh = value.get();
    gates[0]?.resolve('old');
    expect(await old).toBe('old');
    expect(value.initialized).toBe(false);
    gates[1]?.resolve('new');
    expect(await fresh).toBe('new');
    expect(await value.get()).toBe('new');
  });

  it('a signal ends one caller’s wait without cancelling the shared init, and its listener is removed', async () => {
    const gate = Promise.withResolvers<string>();
    const value = lazy(() => gate.promise);
    const controller = new AbortController();
    const waiting = value.get({ signal: controller.signal });
    const other = value.get();
    controller.abort(new Error('caller gave up'));
    await expect(waiting).rejects.toThrow('caller gave up');
    gate.resolve('ready');
    expect(await other).toBe('ready');

    const kept = new AbortController();
    let added = 0;
    let removed = 0;
    const signal = kept.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    const fresh = lazy(async () => 'x');
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      added++;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      removed++;
      remove(...args);
    }) as typeof remove;
    expect(await fresh.get({ signal })).toBe('x');
    expect(added).toBe(removed);
  });

  it('rejects at once with the reason of an already aborted signal, without running init', async () => {
    let calls = 0;
    const value = lazy(() => ++calls);
    await expect(value.get({ signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
    expect(calls).toBe(0);
  });

  it('refuses an unknown option of get(), naming it and the known ones, without running init', () => {
    let calls = 0;
    const value = lazy(() => ++calls);
    expect(() => value.get({ timeoutMs: 5 } as never)).toThrow(
      'lazy().get() options: unknown option "timeoutMs"; known options: signal',
    );
    expect(calls).toBe(0);
  });

  it('rejects bad arguments with a clear error', () => {
    expect(() => lazy('not a function' as never)).toThrow(InvalidArgumentError);
    expect(() => lazy(() => 1).get({ signal: {} as AbortSignal })).toThrow(/signal must be an AbortSignal/);
  });
});
