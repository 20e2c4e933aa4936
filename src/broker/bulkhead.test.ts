import { afterEach, describe, expect, it, vi } from 'vitest';
import { PoolClosedError } from '../concurrency/pool.ts';
import { KeelError } from '../errors.ts';
import { Bulkhead } from './bulkhead.ts';
import { BulkheadClosedError, BulkheadCloseTimeoutError, BulkheadFullError } from './resilience-errors.ts';

/** A promise with its settle functions outside. */
function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A task that runs until `gate` opens, or rejects with its signal's reason when aborted. */
function held(gate: Promise<string>, started: AbortSignal[] = []): (signal: AbortSignal) => Promise<string> {
  return (signal) => {
    started.push(signal);
    return new Promise<string>((resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      gate.then(resolve);
    });
  };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.useRealTimers();
});

describe('Bulkhead', () => {
  it('runs up to concurrency calls at once and queues the rest in order', async () => {
    const bulkhead = new Bulkhead({ name: 'shapes.create', concurrency: 2, maxQueued: 5 });
    const gate = deferred<string>();
    const order: number[] = [];
    const calls = [0, 1, 2, 3].map((i) =>
      bulkhead.run(async (signal) => {
        order.push(i);
        return held(gate.promise)(signal);
      }),
    );
    await flush();
    expect(order).toEqual([0, 1]);
    expect(bulkhead.stats()).toEqual({ running: 2, queued: 2, rejected: 0 });
    gate.resolve('done');
    await expect(Promise.all(calls)).resolves.toEqual(['done', 'done', 'done', 'done']);
    expect(order).toEqual([0, 1, 2, 3]);
    expect(bulkhead.stats()).toEqual({ running: 0, queued: 0, rejected: 0 });
    await bulkhead.close();
  });

  it('refuses a call with a retryable BulkheadFullError when every slot is busy and the queue is full', async () => {
    const bulkhead = new Bulkhead({ name: 'shapes.create', concurrency: 1, maxQueued: 1 });
    const gate = deferred<string>();
    const running = bulkhead.run(held(gate.promise));
    const queued = bulkhead.run(held(gate.promise));
    const fn = vi.fn();
    const error = await bulkhead.run(fn).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BulkheadFullError);
    expect(error).toBeInstanceOf(KeelError);
    expect(error).toMatchObject({
      code: 'KEEL_BROKER_BULKHEAD_FULL',
      retryable: true,
      bulkhead: 'shapes.create',
      concurrency: 1,
      maxQueued: 1,
    });
    expect(fn).not.toHaveBeenCalled();
    expect(bulkhead.stats()).toEqual({ running: 1, queued: 1, rejected: 1 });
    gate.resolve('ok');
    await expect(Promise.all([running, queued])).resolves.toEqual(['ok', 'ok']);
    // Room again: the next call runs.
    await expect(bulkhead.run(() => 'again')).resolves.toBe('again');
    await bulkhead.close();
  });

  it('with maxQueued 0 refuses as soon as every slot is busy', async () => {
    const bulkhead = new Bulkhead({ concurrency: 1, maxQueued: 0 });
    const gate = deferred<string>();
    const running = bulkhead.run(held(gate.promise));
    await expect(bulkhead.run(() => 1)).rejects.toBeInstanceOf(BulkheadFullError);
    gate.resolve('ok');
    await running;
    await bulkhead.close();
  });

  it("passes the call's signal through: an abort stops a running handler and drops a queued one", async () => {
    const bulkhead = new Bulkhead({ concurrency: 1, maxQueued: 5 });
    const gate = deferred<string>();
    const started: AbortSignal[] = [];
    const first = new AbortController();
    const second = new AbortController();
    const running = bulkhead.run(held(gate.promise, started), { signal: first.signal });
    const queuedFn = vi.fn(held(gate.promise, started));
    const queued = bulkhead.run(queuedFn, { signal: second.signal });
    const third = bulkhead.run(held(gate.promise, started));
    await flush();
    expect(started).toHaveLength(1);

    const dropped = new Error('caller gave up while queued');
    second.abort(dropped);
    await expect(queued).rejects.toBe(dropped);
    expect(bulkhead.stats().queued).toBe(1);

    const stopped = new Error('caller gave up while running');
    first.abort(stopped);
    await expect(running).rejects.toBe(stopped);
    expect((started[0] as AbortSignal).aborted).toBe(true);
    expect((started[0] as AbortSignal).reason).toBe(stopped);
    // The freed slot went to the third call, never to the dropped one.
    await flush();
    expect(queuedFn).not.toHaveBeenCalled();
    expect(started).toHaveLength(2);
    gate.resolve('ok');
    await expect(third).resolves.toBe('ok');
    await bulkhead.close();
  });

  it('close() refuses new calls and lets running and queued calls finish within the deadline', async () => {
    const bulkhead = new Bulkhead({ name: 'a', concurrency: 1, maxQueued: 5 });
    const gate = deferred<string>();
    const running = bulkhead.run(held(gate.promise));
    const queued = bulkhead.run(held(gate.promise));
    const closing = bulkhead.close({ timeoutMs: 60_000 });
    expect(bulkhead.closed).toBe(true);
    const refused = await bulkhead.run(() => 1).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BulkheadClosedError);
    expect(refused).toMatchObject({ code: 'KEEL_BROKER_BULKHEAD_CLOSED', retryable: true, bulkhead: 'a' });
    gate.resolve('finished');
    await expect(Promise.all([running, queued])).resolves.toEqual(['finished', 'finished']);
    await expect(closing).resolves.toBeUndefined();
  });

  it('at the close deadline refuses the queued calls and aborts the running ones, which end as BulkheadClosedError', async () => {
    vi.useFakeTimers();
    const bulkhead = new Bulkhead({ concurrency: 1, maxQueued: 5 });
    const gate = deferred<string>();
    const started: AbortSignal[] = [];
    const running = bulkhead.run(held(gate.promise, started));
    const queuedFn = vi.fn();
    const queued = bulkhead.run(queuedFn);
    running.catch(() => {});
    queued.catch(() => {});
    const closing = bulkhead.close({ timeoutMs: 1000, graceMs: 1000 });
    await vi.advanceTimersByTimeAsync(999);
    expect((started[0] as AbortSignal).aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(closing).resolves.toBeUndefined();
    expect((started[0] as AbortSignal).reason).toBeInstanceOf(PoolClosedError);
    await expect(running).rejects.toBeInstanceOf(BulkheadClosedError);
    await expect(queued).rejects.toBeInstanceOf(BulkheadClosedError);
    expect(queuedFn).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with BulkheadCloseTimeoutError when aborted calls ignore their signal past graceMs', async () => {
    vi.useFakeTimers();
    const bulkhead = new Bulkhead({ name: 'stubborn', concurrency: 2 });
    const gate = deferred<string>();
    const ignoring = bulkhead.run(() => gate.promise);
    const closing = bulkhead.close({ timeoutMs: 100, graceMs: 50 });
    closing.catch(() => {});
    await vi.advanceTimersByTimeAsync(149);
    let settled = false;
    closing.then(
      () => (settled = true),
      () => (settled = true),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await closing.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BulkheadCloseTimeoutError);
    expect(error).toMatchObject({
      code: 'KEEL_BROKER_BULKHEAD_CLOSE_TIMEOUT',
      bulkhead: 'stubborn',
      pending: 1,
    });
    expect(vi.getTimerCount()).toBe(0);
    gate.resolve('late');
    await expect(ignoring).resolves.toBe('late');
    // Closing again once it has settled resolves at once.
    await expect(bulkhead.close()).resolves.toBeUndefined();
  });

  it("close()'s signal ends the drain at once: calls are aborted and close rejects with its reason", async () => {
    const bulkhead = new Bulkhead({ concurrency: 1, maxQueued: 2 });
    const gate = deferred<string>();
    const running = bulkhead.run(held(gate.promise));
    const queued = bulkhead.run(() => 'never');
    running.catch(() => {});
    queued.catch(() => {});
    const controller = new AbortController();
    const closing = bulkhead.close({ timeoutMs: 60_000, signal: controller.signal });
    const reason = new Error('second signal');
    controller.abort(reason);
    await expect(closing).rejects.toBe(reason);
    await expect(running).rejects.toBeInstanceOf(BulkheadClosedError);
    await expect(queued).rejects.toBeInstanceOf(BulkheadClosedError);
    const already = new AbortController();
    already.abort(reason);
    await expect(bulkhead.close({ signal: already.signal })).rejects.toBe(reason);
  });

  it('passes a failure of the handler through unchanged', async () => {
    const bulkhead = new Bulkhead({ concurrency: 1 });
    const error = new Error('handler failed');
    await expect(
      bulkhead.run(() => {
        throw error;
      }),
    ).rejects.toBe(error);
    await expect(bulkhead.run(async () => Promise.reject(error))).rejects.toBe(error);
    expect(bulkhead.stats()).toEqual({ running: 0, queued: 0, rejected: 0 });
    await bulkhead.close();
  });

  it('refuses bad options and arguments, naming them', async () => {
    expect(() => new Bulkhead(undefined as never)).toThrow(/Bulkhead options must be an options object/);
    expect(() => new Bulkhead({} as never)).toThrow(
      /Bulkhead concurrency must be an integer ≥ 1 or Infinity; received undefined/,
    );
    expect(() => new Bulkhead({ concurrency: 0 })).toThrow(/Bulkhead concurrency/);
    expect(() => new Bulkhead({ concurrency: 1, maxQueued: -1 })).toThrow(
      /Bulkhead maxQueued must be an integer ≥ 0/,
    );
    expect(() => new Bulkhead({ concurrency: 1, name: 5 as never })).toThrow(
      /Bulkhead name must be a non-empty string/,
    );
    expect(() => new Bulkhead({ concurrency: 1, maxQueue: 5 } as never)).toThrow(
      'Bulkhead options: unknown option "maxQueue"; known options: name, concurrency, maxQueued',
    );
    const bulkhead = new Bulkhead({ concurrency: 1 });
    expect(bulkhead.maxQueued).toBe(1000);
    expect(() => bulkhead.run(5 as never)).toThrow(/Bulkhead.run\(\) fn must be a function; received 5/);
    expect(() => bulkhead.run(() => 1, { signal: 'x' } as never)).toThrow(
      /Bulkhead.run\(\) signal must be an AbortSignal/,
    );
    expect(() => bulkhead.run(() => 1, { timeoutMs: 1 } as never)).toThrow(
      'Bulkhead.run() options: unknown option "timeoutMs"; known options: signal',
    );
    await expect(bulkhead.close({ timeoutMs: -1 })).rejects.toThrow(/Bulkhead.close\(\) timeoutMs/);
    await expect(bulkhead.close({ graceMs: Number.POSITIVE_INFINITY })).rejects.toThrow(
      /Bulkhead.close\(\) graceMs/,
    );
    await expect(bulkhead.close({ deadline: 1 } as never)).rejects.toThrow(
      'Bulkhead.close() options: unknown option "deadline"; known options: timeoutMs, graceMs, signal',
    );
    expect(bulkhead.closed).toBe(false);
    await bulkhead.close();
  });
});
