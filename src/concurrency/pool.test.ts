import { execFile } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, KeelError } from '../errors.ts';
import { Pool, PoolClearedError, PoolClosedError, PoolCloseTimeoutError, PoolFullError } from './pool.ts';
import { sleep } from './sleep.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** A task whose outcome the test decides. */
function controllable<T = number>() {
  const { promise, resolve, reject } = Promise.withResolvers<T>();
  const task = ((signal: AbortSignal) => {
    task.started = true;
    task.signal = signal;
    return promise;
  }) as ((signal: AbortSignal) => Promise<T>) & {
    started: boolean;
    signal: AbortSignal | undefined;
    resolve: (value: T) => void;
    reject: (reason: unknown) => void;
  };
  task.started = false;
  task.signal = undefined;
  task.resolve = resolve;
  task.reject = reject;
  return task;
}

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

/** Whether a promise has settled, without waiting for it. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const winner = await Promise.race([
    promise.then(
      () => 'settled',
      () => 'settled',
    ),
    Promise.resolve().then(() => marker),
  ]);
  return winner !== marker;
}

describe('Pool: running tasks', () => {
  it('settles like the task, which receives a signal that is not aborted', async () => {
    const pool = new Pool({ concurrency: 2 });
    let seen: AbortSignal | undefined;
    await expect(
      pool.run((signal) => {
        seen = signal;
        return 'ok';
      }),
    ).resolves.toBe('ok');
    expect(seen?.aborted).toBe(false);
    await expect(pool.run(async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    await expect(
      pool.run(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(pool.pending).toBe(0);
    expect(pool.size).toBe(0);
  });

  it('starts a task at once when a slot is free, and queues the rest in FIFO order', async () => {
    const pool = new Pool({ concurrency: 2 });
    const tasks = Array.from({ length: 5 }, () => controllable());
    const results = tasks.map((t) => pool.run(t));
    expect(tasks.map((t) => t.started)).toEqual([true, true, false, false, false]);
    expect(pool.pending).toBe(2);
    expect(pool.size).toBe(3);
    tasks[1]?.resolve(1);
    await ticks();
    expect(tasks.map((t) => t.started)).toEqual([true, true, true, false, false]);
    expect(pool.size).toBe(2);
    for (const [i, t] of tasks.entries()) t.resolve(i);
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4]);
    expect(pool.pending).toBe(0);
  });

  it('never runs more than concurrency at once, and reaches it', async () => {
    vi.useFakeTimers();
    const pool = new Pool({ concurrency: 3 });
    let running = 0;
    let max = 0;
    const results = Array.from({ length: 20 }, (_, i) =>
      pool.run(async () => {
        running++;
        max = Math.max(max, running);
        await sleep(10 + (i % 3));
        running--;
        return i;
      }),
    );
    await vi.advanceTimersByTimeAsync(1000);
    expect(await Promise.all(results)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(max).toBe(3);
  });

  it('keeps going after a failure: a failed task frees its slot and touches no other', async () => {
    const pool = new Pool({ concurrency: 1 });
    const a = pool.run(() => Promise.reject(new Error('a')));
    const b = pool.run(async (signal) => signal.aborted);
    await expect(a).rejects.toThrow('a');
    await expect(b).resolves.toBe(false);
  });
});

describe('Pool: the queue bound', () => {
  it('rejects past maxQueued with a retryable PoolFullError; running tasks are not counted', async () => {
    const pool = new Pool({ concurrency: 2, maxQueued: 1 });
    const tasks = Array.from({ length: 3 }, () => controllable());
    const accepted = tasks.map((t) => pool.run(t));
    const refused = controllable();
    const error = await pool.run(refused).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PoolFullError);
    expect(error).toBeInstanceOf(KeelError);
    expect(error).toMatchObject({ code: 'KEEL_POOL_FULL', retryable: true, maxQueued: 1 });
    expect(refused.started).toBe(false);
    for (const t of tasks) t.resolve(0);
    await Promise.all(accepted);
  });

  it('with maxQueued 0 accepts only what can start now', async () => {
    const pool = new Pool({ concurrency: 1, maxQueued: 0 });
    const first = controllable();
    const running = pool.run(first);
    await expect(pool.run(() => 1)).rejects.toBeInstanceOf(PoolFullError);
    first.resolve(1);
    await running;
    await expect(pool.run(() => 2)).resolves.toBe(2);
  });

  it('onSpace() resolves when run would accept a task: at once, or when the queue shrinks', async () => {
    const pool = new Pool({ concurrency: 1, maxQueued: 1 });
    await expect(pool.onSpace()).resolves.toBeUndefined();
    const a = controllable();
    const b = controllable();
    const results = [pool.run(a), pool.run(b)];
    const space = pool.onSpace();
    expect(await isSettled(space)).toBe(false);
    a.resolve(1);
    await space;
    expect(pool.size).toBe(0);
    const third = pool.run(() => 3);
    b.resolve(2);
    expect(await Promise.all([...results, third])).toEqual([1, 2, 3]);
  });

  it('onSpace() stops waiting when its signal aborts, leaving no listener', async () => {
    const pool = new Pool({ concurrency: 1, maxQueued: 0 });
    const a = controllable();
    const running = pool.run(a);
    const controller = new AbortController();
    const space = pool.onSpace({ signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(space).rejects.toThrow('gave up');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await expect(pool.onSpace({ signal: AbortSignal.abort('early') })).rejects.toBe('early');
    a.resolve(1);
    await running;
  });
});

describe('Pool: aborting a task', () => {
  it('removes a queued task, which never runs, and rejects with the reason', async () => {
    const pool = new Pool({ concurrency: 1 });
    const first = controllable();
    const queued = controllable();
    const controller = new AbortController();
    const running = pool.run(first);
    const result = pool.run(queued, { signal: controller.signal });
    expect(pool.size).toBe(1);
    controller.abort(new Error('not needed'));
    await expect(result).rejects.toThrow('not needed');
    expect(pool.size).toBe(0);
    first.resolve(1);
    await running;
    await pool.onIdle();
    expect(queued.started).toBe(false);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('aborts a running task’s signal and rejects at once; the slot frees when the task settles', async () => {
    const pool = new Pool({ concurrency: 1 });
    const task = controllable();
    const controller = new AbortController();
    const result = pool.run(task, { signal: controller.signal });
    const next = controllable();
    const after = pool.run(next);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(result).rejects.toBe(reason);
    expect(task.signal?.aborted).toBe(true);
    expect(task.signal?.reason).toBe(reason);
    expect(pool.pending).toBe(1);
    expect(next.started).toBe(false);
    task.reject(reason);
    await ticks();
    expect(next.started).toBe(true);
    next.resolve(2);
    await expect(after).resolves.toBe(2);
  });

  it('rejects at once, never running it, when the signal is already aborted', async () => {
    const pool = new Pool({ concurrency: 1 });
    const task = controllable();
    await expect(pool.run(task, { signal: AbortSignal.abort('early') })).rejects.toBe('early');
    expect(task.started).toBe(false);
    expect(pool.size + pool.pending).toBe(0);
  });

  it('gives a task run with a signal its own signal, not the caller’s, and removes its listener', async () => {
    const pool = new Pool({ concurrency: 1 });
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    await pool.run(
      (signal) => {
        seen = signal;
      },
      { signal: controller.signal },
    );
    expect(seen).not.toBe(controller.signal);
    expect(seen?.aborted).toBe(false);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('Pool: clear() and onIdle()', () => {
  it('clear() rejects every queued task with PoolClearedError and lets running ones finish', async () => {
    const pool = new Pool({ concurrency: 2 });
    const tasks = Array.from({ length: 5 }, () => controllable());
    const results = tasks.map((t) =>
      pool.run(t).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
    );
    pool.clear();
    expect(pool.size).toBe(0);
    expect(pool.pending).toBe(2);
    tasks[0]?.resolve(0);
    tasks[1]?.resolve(1);
    const outcomes = await Promise.all(results);
    expect(outcomes.slice(0, 2)).toEqual([{ value: 0 }, { value: 1 }]);
    for (const o of outcomes.slice(2)) {
      expect((o as { error: unknown }).error).toBeInstanceOf(PoolClearedError);
      expect((o as { error: KeelError }).error.code).toBe('KEEL_POOL_CLEARED');
    }
    expect(tasks.slice(2).some((t) => t.started)).toBe(false);
  });

  it('clear() on an empty queue does nothing', async () => {
    const pool = new Pool({ concurrency: 1 });
    pool.clear();
    await expect(pool.run(() => 1)).resolves.toBe(1);
  });

  it('onIdle() resolves at once when idle, else when nothing runs or waits', async () => {
    const pool = new Pool({ concurrency: 1 });
    await expect(pool.onIdle()).resolves.toBeUndefined();
    const a = controllable();
    const b = controllable();
    const results = [pool.run(a), pool.run(b)];
    const idle = pool.onIdle();
    a.resolve(1);
    await ticks();
    expect(await isSettled(idle)).toBe(false);
    b.resolve(2);
    await idle;
    expect(pool.pending + pool.size).toBe(0);
    await Promise.all(results);
  });

  it('onIdle() follows clear(), and stops waiting on abort', async () => {
    const pool = new Pool({ concurrency: 1 });
    const a = controllable();
    const running = pool.run(a);
    const queued = pool.run(() => 2).catch((e: unknown) => e);
    const controller = new AbortController();
    const aborted = pool.onIdle({ signal: controller.signal });
    const idle = pool.onIdle();
    controller.abort('enough');
    await expect(aborted).rejects.toBe('enough');
    pool.clear();
    expect(await queued).toBeInstanceOf(PoolClearedError);
    a.resolve(1);
    await idle;
    await running;
  });
});

describe('Pool: concurrency at run time', () => {
  it('raising it hands the new slots to queued tasks at once; they start a microtask later', async () => {
    const pool = new Pool({ concurrency: 1 });
    const tasks = Array.from({ length: 4 }, () => controllable());
    const results = tasks.map((t) => pool.run(t));
    pool.concurrency = 3;
    expect(pool.concurrency).toBe(3);
    // The slots are taken now; each task starts from its caller's own continuation, so in its context.
    expect([pool.pending, pool.size]).toEqual([3, 1]);
    await Promise.resolve();
    expect(tasks.map((t) => t.started)).toEqual([true, true, true, false]);
    for (const [i, t] of tasks.entries()) t.resolve(i);
    await Promise.all(results);
  });

  it('lowering it lets running tasks finish and then holds to the new limit', async () => {
    const pool = new Pool({ concurrency: 3 });
    const tasks = Array.from({ length: 6 }, () => controllable());
    const results = tasks.map((t) => pool.run(t));
    pool.concurrency = 1;
    expect(pool.pending).toBe(3);
    tasks[0]?.resolve(0);
    tasks[1]?.resolve(1);
    await ticks();
    expect(tasks.map((t) => t.started)).toEqual([true, true, true, false, false, false]);
    tasks[2]?.resolve(2);
    await ticks();
    expect(tasks.map((t) => t.started)).toEqual([true, true, true, true, false, false]);
    expect(pool.pending).toBe(1);
    for (const [i, t] of tasks.entries()) t.resolve(i);
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('rejects a bad value and keeps the old one', () => {
    const pool = new Pool({ concurrency: 2 });
    expect(() => {
      pool.concurrency = 0;
    }).toThrow('Pool concurrency must be an integer ≥ 1 or Infinity; received 0');
    expect(pool.concurrency).toBe(2);
  });
});

describe('Pool: disposal', () => {
  it('rejects queued tasks, aborts running ones, waits for them, and refuses new ones', async () => {
    const pool = new Pool({ concurrency: 1 });
    const task = controllable();
    const running = pool.run(task).catch((e: unknown) => e);
    const queued = pool.run(() => 2).catch((e: unknown) => e);
    const disposed = pool[Symbol.asyncDispose]();
    expect(pool.closed).toBe(true);
    expect(task.signal?.aborted).toBe(true);
    expect(task.signal?.reason).toBeInstanceOf(PoolClosedError);
    expect(await queued).toBeInstanceOf(PoolClosedError);
    expect(await isSettled(disposed)).toBe(false);
    task.reject(task.signal?.reason);
    await disposed;
    expect(await running).toBeInstanceOf(PoolClosedError);
    await expect(pool.run(() => 1)).rejects.toMatchObject({ code: 'KEEL_POOL_CLOSED' });
    await pool[Symbol.asyncDispose]();
  });

  it('reaches tasks run with a signal of their own, too', async () => {
    const pool = new Pool({ concurrency: 1 });
    const controller = new AbortController();
    const task = controllable();
    const result = pool.run(task, { signal: controller.signal });
    const disposed = pool[Symbol.asyncDispose]();
    expect(task.signal?.aborted).toBe(true);
    task.reject(task.signal?.reason);
    await disposed;
    await expect(result).rejects.toBeInstanceOf(PoolClosedError);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('works with await using', async () => {
    let seen: AbortSignal | undefined;
    {
      await using pool = new Pool({ concurrency: 1 });
      await pool.run((signal) => {
        seen = signal;
      });
    }
    expect(seen?.aborted).toBe(true);
  });
});

describe('Pool: bad inputs', () => {
  it.each([
    [undefined, 'Pool concurrency must be an integer ≥ 1 or Infinity; received undefined'],
    [{}, 'Pool concurrency must be an integer ≥ 1 or Infinity; received undefined'],
    [{ concurrency: 0 }, 'Pool concurrency must be an integer ≥ 1 or Infinity; received 0'],
    [{ concurrency: 2.5 }, 'Pool concurrency must be an integer ≥ 1 or Infinity; received 2.5'],
    [{ concurrency: 1, maxQueued: -1 }, 'Pool maxQueued must be an integer ≥ 0 or Infinity; received -1'],
    [{ concurrency: 1, maxQueued: '3' }, 'Pool maxQueued must be an integer ≥ 0 or Infinity; received "3"'],
  ])('rejects options %o', (options, message) => {
    expect(() => new Pool(options as never)).toThrow(new InvalidArgumentError(message));
  });

  it('rejects a task that is not a function, and a bad signal, synchronously', () => {
    const pool = new Pool({ concurrency: 1 });
    expect(() => pool.run(42 as never)).toThrow('Pool.run() fn must be a function; received 42');
    expect(() => pool.run(() => 1, { signal: 'x' as never })).toThrow(
      'Pool.run() signal must be an AbortSignal; received "x"',
    );
    expect(() => pool.onIdle({ signal: 1 as never })).toThrow(InvalidArgumentError);
  });
});

describe('Pool: the classic ten one-second tasks', () => {
  const processData = async (data: string): Promise<string> => {
    await sleep(1000);
    return `Processed ${data}`;
  };

  it.each([
    [10, 1000],
    [5, 2000],
  ])('at concurrency %i finish in %i ms', async (concurrency, ms) => {
    vi.useFakeTimers();
    const pool = new Pool({ concurrency });
    const start = performance.now();
    let finishedAt: number | undefined;
    const results = Promise.all(
      Array.from({ length: 10 }, (_, i) => pool.run(() => processData(`Data ${i}`))),
    ).then((r) => {
      finishedAt = performance.now();
      return r;
    });
    await vi.advanceTimersByTimeAsync(ms - 1);
    expect(finishedAt).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(await results).toEqual(Array.from({ length: 10 }, (_, i) => `Processed Data ${i}`));
    expect((finishedAt as number) - start).toBe(ms);
  });
});

describe('Pool: limits at the edges', () => {
  it('with concurrency Infinity runs every task at once and queues none', async () => {
    const pool = new Pool({ concurrency: Number.POSITIVE_INFINITY });
    const tasks = Array.from({ length: 50 }, () => controllable());
    const results = tasks.map((t) => pool.run(t));
    expect(tasks.every((t) => t.started)).toBe(true);
    expect(pool.pending).toBe(50);
    expect(pool.size).toBe(0);
    for (const [i, t] of tasks.entries()) t.resolve(i);
    expect(await Promise.all(results)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('resolves every onSpace() waiter when room appears', async () => {
    const pool = new Pool({ concurrency: 1, maxQueued: 0 });
    const a = controllable();
    const running = pool.run(a);
    const waits = [pool.onSpace(), pool.onSpace(), pool.onSpace()];
    a.resolve(1);
    await Promise.all(waits);
    await running;
  });

  it('a queued task aborted from inside another task never runs', async () => {
    const pool = new Pool({ concurrency: 1 });
    const controller = new AbortController();
    const later = controllable();
    const first = pool.run(async () => {
      await Promise.resolve();
      expect(pool.size).toBe(1);
      controller.abort('changed my mind');
      return 'first';
    });
    const second = pool.run(later, { signal: controller.signal });
    await expect(first).resolves.toBe('first');
    await expect(second).rejects.toBe('changed my mind');
    await pool.onIdle();
    expect(later.started).toBe(false);
  });
});

describe('Pool: closing with a deadline', () => {
  it('close() resolves once the aborted tasks settle, within the deadline, leaving no timer', async () => {
    vi.useFakeTimers();
    const pool = new Pool({ concurrency: 1 });
    const task = controllable();
    const running = pool.run(task);
    const queued = pool.run(() => 1);
    const closed = pool.close({ timeoutMs: 1_000 });
    expect(task.signal?.aborted).toBe(true);
    await expect(queued).rejects.toBeInstanceOf(PoolClosedError);
    task.resolve(7);
    await expect(closed).resolves.toBeUndefined();
    await expect(running).resolves.toBe(7);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() rejects with PoolCloseTimeoutError when a task ignores its abort past the deadline', async () => {
    vi.useFakeTimers();
    const pool = new Pool({ concurrency: 2 });
    const stubborn = controllable();
    const running = pool.run(stubborn);
    const closed = pool.close({ timeoutMs: 500 });
    closed.catch(() => {});
    await vi.advanceTimersByTimeAsync(499);
    expect(await isSettled(closed)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await closed.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PoolCloseTimeoutError);
    expect(error).toMatchObject({
      code: 'KEEL_POOL_CLOSE_TIMEOUT',
      pending: 1,
      timeoutMs: 500,
      retryable: true,
    });
    expect((error as Error).message).toBe('Pool did not close within 500 ms: 1 aborted task still running');
    expect(vi.getTimerCount()).toBe(0);
    expect(pool.closed).toBe(true);
    await expect(pool.run(() => 1)).rejects.toBeInstanceOf(PoolClosedError);
    // A later close waits again, and succeeds once the task finally stops.
    const again = pool.close({ timeoutMs: 500 });
    stubborn.resolve(1);
    await expect(again).resolves.toBeUndefined();
    await running;
    expect(vi.getTimerCount()).toBe(0);
  });

  it('disposal is bounded by closeTimeoutMs', async () => {
    vi.useFakeTimers();
    const stubborn = controllable();
    const pool = new Pool({ concurrency: 1, closeTimeoutMs: 2 ** 31 + 10 });
    void pool.run(stubborn);
    const disposed = pool[Symbol.asyncDispose]();
    disposed.catch(() => {});
    await vi.advanceTimersByTimeAsync(2 ** 31);
    expect(await isSettled(disposed)).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    await expect(disposed).rejects.toBeInstanceOf(PoolCloseTimeoutError);
    expect(vi.getTimerCount()).toBe(0);
    stubborn.resolve(0);
  });

  it('close({ signal }) stops waiting on abort with the reason, leaving no listener or timer', async () => {
    vi.useFakeTimers();
    const pool = new Pool({ concurrency: 1 });
    const stubborn = controllable();
    void pool.run(stubborn);
    const controller = new AbortController();
    const closed = pool.close({ timeoutMs: 10_000, signal: controller.signal });
    controller.abort('enough');
    await expect(closed).rejects.toBe('enough');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
    stubborn.resolve(0);
    await pool.onIdle();
  });

  it('close() on an idle pool resolves at once, and refuses a bad deadline', async () => {
    const pool = new Pool({ concurrency: 1 });
    expect(() => pool.close({ timeoutMs: -1 })).toThrow(
      new InvalidArgumentError(
        'Pool.close() timeoutMs must be a number of milliseconds ≥ 0 or Infinity; received -1',
      ),
    );
    await expect(pool.close({ timeoutMs: 0 })).resolves.toBeUndefined();
    expect(() => new Pool({ concurrency: 1, closeTimeoutMs: Number.NaN })).toThrow(
      'Pool closeTimeoutMs must be a number of milliseconds ≥ 0 or Infinity; received NaN',
    );
  });
});

describe('Pool: failures nobody handles', () => {
  // Node reports an unhandled rejection by exiting with an error; run in a process of its own so the
  // report is the process's, not the test runner's.
  const unhandled = (body: string): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      const pool = JSON.stringify(pathToFileURL(join(import.meta.dirname, 'pool.ts')).href);
      const script = `import { Pool } from ${pool};\nconst pool = new Pool({ concurrency: 1 });\n${body}`;
      execFile(process.execPath, ['--input-type=module', '-e', script], (error, _stdout, stderr) =>
        resolve({ code: error === null ? 0 : (error.code as number), stderr }),
      );
    });

  it.each([
    ['a task that started at once', `pool.run(() => Promise.reject(new Error('lost')));`],
    [
      'a queued task',
      `pool.run(() => new Promise((r) => setTimeout(r, 5)));\npool.run(() => Promise.reject(new Error('lost')));`,
    ],
  ])('still reports the failure of %s whose result is ignored', async (_, body) => {
    const { code, stderr } = await unhandled(body);
    expect(code).not.toBe(0);
    expect(stderr).toContain('lost');
  });
});
