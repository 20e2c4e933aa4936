import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { gather, type Task } from './gather.ts';
import { sleep } from './sleep.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** A task whose outcome the test decides, recording when it started and the signal it got. */
function controllable<T>() {
  const { promise, resolve, reject } = Promise.withResolvers<T>();
  const task = ((signal: AbortSignal) => {
    task.started = true;
    task.signal = signal;
    return promise;
  }) as Task<T> & Controls<T>;
  task.started = false;
  task.signal = undefined;
  task.resolve = resolve;
  task.reject = reject;
  return task;
}

interface Controls<T> {
  started: boolean;
  signal: AbortSignal | undefined;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

/** Tasks that count how many run at once. */
function counting(n: number, ms: number) {
  const state = { running: 0, max: 0 };
  const tasks = Array.from({ length: n }, (_, i) => async () => {
    state.running++;
    state.max = Math.max(state.max, state.running);
    await sleep(ms);
    state.running--;
    return i;
  });
  return { state, tasks };
}

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('gather: results', () => {
  it('resolves to the results in input order, whatever order the tasks finish in', async () => {
    vi.useFakeTimers();
    const tasks = [30, 10, 20].map((ms) => async () => {
      await sleep(ms);
      return ms;
    });
    const result = gather(tasks);
    await vi.advanceTimersByTimeAsync(30);
    expect(await result).toEqual([30, 10, 20]);
  });

  it('keeps input order with a limit too', async () => {
    vi.useFakeTimers();
    const tasks = [40, 10, 30, 20, 5].map((ms) => async () => {
      await sleep(ms);
      return ms;
    });
    const result = gather(tasks, { concurrency: 2 });
    await vi.advanceTimersByTimeAsync(100);
    expect(await result).toEqual([40, 10, 30, 20, 5]);
  });

  it('resolves an empty input to an empty array, with or without a limit', async () => {
    await expect(gather([])).resolves.toEqual([]);
    await expect(gather([], { concurrency: 3 })).resolves.toEqual([]);
    await expect(gather([], { settle: true })).resolves.toEqual([]);
  });

  it('accepts synchronous tasks and thenables', async () => {
    const thenable: PromiseLike<string> = {
      // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable is the point of this test.
      then: (onFulfilled) => Promise.resolve(onFulfilled?.('thenable')) as never,
    };
    const tasks = [() => 1, async () => 'async', () => thenable, () => null];
    expect(await gather(tasks)).toEqual([1, 'async', 'thenable', null]);
    expect(await gather(tasks, { concurrency: 1 })).toEqual([1, 'async', 'thenable', null]);
  });

  it('gives every task a signal that is not aborted while all goes well', async () => {
    const seen: AbortSignal[] = [];
    await gather(
      Array.from({ length: 3 }, () => (signal: AbortSignal) => {
        seen.push(signal);
        return signal.aborted;
      }),
    );
    expect(seen).toHaveLength(3);
    expect(seen.every((s) => s instanceof AbortSignal && !s.aborted)).toBe(true);
  });
});

describe('gather: the limit', () => {
  it.each([1, 2, 3, 7])('never runs more than concurrency %i at once, and reaches it', async (limit) => {
    vi.useFakeTimers();
    const { state, tasks } = counting(20, 10);
    const result = gather(tasks, { concurrency: limit });
    await vi.advanceTimersByTimeAsync(1000);
    expect(await result).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(state.max).toBe(limit);
  });

  it('starts tasks in input order as earlier ones finish', async () => {
    const tasks = Array.from({ length: 4 }, () => controllable<number>());
    const result = gather(tasks, { concurrency: 2 });
    expect(tasks.map((t) => t.started)).toEqual([true, true, false, false]);
    tasks[1]?.resolve(1);
    await ticks();
    expect(tasks.map((t) => t.started)).toEqual([true, true, true, false]);
    tasks[0]?.resolve(0);
    await ticks();
    expect(tasks.map((t) => t.started)).toEqual([true, true, true, true]);
    tasks[2]?.resolve(2);
    tasks[3]?.resolve(3);
    expect(await result).toEqual([0, 1, 2, 3]);
  });

  it('runs every task at once without a limit (Infinity)', async () => {
    vi.useFakeTimers();
    const { state, tasks } = counting(50, 10);
    const result = gather(tasks, { concurrency: Number.POSITIVE_INFINITY });
    await vi.advanceTimersByTimeAsync(10);
    await result;
    expect(state.max).toBe(50);
  });
});

describe('gather: failure', () => {
  it.each([
    ['without a limit', undefined],
    ['with a limit', 2],
  ])('rejects with the first failure and aborts the running tasks’ signal (%s)', async (_, concurrency) => {
    const tasks = Array.from({ length: 4 }, () => controllable<number>());
    const result = gather(tasks, { concurrency });
    const running = tasks.filter((t) => t.started);
    const boom = new Error('boom');
    tasks[1]?.reject(boom);
    await expect(result).rejects.toBe(boom);
    for (const t of running) {
      expect(t.signal?.aborted).toBe(true);
      expect(t.signal?.reason).toBe(boom);
    }
    // A later failure of a sibling is neither reported nor unhandled.
    tasks[0]?.reject(new Error('later'));
    await ticks();
  });

  it('starts no further task after the first failure', async () => {
    const tasks = Array.from({ length: 5 }, () => controllable<number>());
    const result = gather(tasks, { concurrency: 2 });
    tasks[0]?.reject(new Error('boom'));
    await expect(result).rejects.toThrow('boom');
    tasks[1]?.resolve(1);
    await ticks(10);
    expect(tasks.map((t) => t.started)).toEqual([true, true, false, false, false]);
  });

  it('rejects with a synchronous throw, before or after other tasks started', async () => {
    const boom = new Error('sync');
    const first = controllable<number>();
    const throwing: Task = () => {
      throw boom;
    };
    await expect(gather([first, throwing])).rejects.toBe(boom);
    expect(first.signal?.aborted).toBe(true);
    await expect(gather([throwing, first], { concurrency: 1 })).rejects.toBe(boom);
    first.reject(new Error('ignored'));
  });

  it('never leaves an unhandled rejection when several tasks fail', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const fail = (m: string) => async () => {
        await Promise.resolve();
        throw new Error(m);
      };
      await expect(gather([fail('a'), fail('b'), fail('c')])).rejects.toThrow('a');
      await expect(gather([fail('a'), fail('b'), fail('c')], { concurrency: 2 })).rejects.toThrow('a');
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('gather: settle', () => {
  it.each([
    ['without a limit', undefined],
    ['with a limit', 2],
  ])('reports every outcome in input order and runs every task (%s)', async (_, concurrency) => {
    const boom = new Error('boom');
    const seen: AbortSignal[] = [];
    const tasks: Task[] = [
      async () => 1,
      async (signal) => {
        seen.push(signal);
        throw boom;
      },
      () => {
        throw boom;
      },
      async (signal) => {
        await Promise.resolve();
        seen.push(signal);
        return 4;
      },
    ];
    expect(await gather(tasks, { concurrency, settle: true })).toEqual([
      { status: 'fulfilled', value: 1 },
      { status: 'rejected', reason: boom },
      { status: 'rejected', reason: boom },
      { status: 'fulfilled', value: 4 },
    ]);
    // A failure aborts nobody when every outcome is wanted.
    expect(seen.every((s) => !s.aborted)).toBe(true);
  });

  it('respects the limit', async () => {
    vi.useFakeTimers();
    const { state, tasks } = counting(12, 10);
    const result = gather(tasks, { concurrency: 3, settle: true });
    await vi.advanceTimersByTimeAsync(100);
    expect((await result).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(state.max).toBe(3);
  });

  it('still rejects with the reason when the signal aborts', async () => {
    const controller = new AbortController();
    const task = controllable<number>();
    const result = gather([task], { settle: true, signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(result).rejects.toThrow('stop');
    expect(task.signal?.aborted).toBe(true);
  });
});

describe('gather: abort', () => {
  it.each([
    ['without a limit', undefined],
    ['with a limit', 2],
  ])('rejects with the reason, aborts running tasks and starts no more (%s)', async (_, concurrency) => {
    const controller = new AbortController();
    const tasks = Array.from({ length: 4 }, () => controllable<number>());
    const result = gather(tasks, { concurrency, signal: controller.signal });
    const reason = new Error('cancelled');
    controller.abort(reason);
    await expect(result).rejects.toBe(reason);
    const started = tasks.filter((t) => t.started);
    expect(started.length).toBe(concurrency ?? 4);
    for (const t of started) expect(t.signal?.reason).toBe(reason);
    for (const t of started) t.resolve(0);
    await ticks(10);
    expect(tasks.filter((t) => t.started).length).toBe(concurrency ?? 4);
  });

  it('rejects at once, starting nothing, when the signal is already aborted', async () => {
    const task = controllable<number>();
    await expect(gather([task], { signal: AbortSignal.abort('early') })).rejects.toBe('early');
    expect(task.started).toBe(false);
  });

  it('removes its listener from the signal once settled, whichever way', async () => {
    const controller = new AbortController();
    const { signal } = controller;
    await gather([async () => 1], { signal });
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    await expect(gather([() => Promise.reject(new Error('x'))], { signal })).rejects.toThrow('x');
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    await gather([async () => 1], { signal, concurrency: 1, settle: true });
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });
});

describe('gather: bad inputs', () => {
  it.each([
    [null, 'gather() tasks must be an array of functions; received null'],
    ['abc', 'gather() tasks must be an array of functions; received "abc"'],
    [new Set(), 'gather() tasks must be an array of functions; received an instance of Set'],
  ])('rejects tasks %o', (tasks, message) => {
    expect(() => gather(tasks as never)).toThrow(new InvalidArgumentError(message));
  });

  it('names the first task that is not a function', () => {
    expect(() => gather([() => 1, Promise.resolve(2) as never])).toThrow(
      'gather() tasks[1] must be a function that starts the task; received an instance of Promise',
    );
  });

  it.each([0, -1, 1.5, Number.NaN, '2', null])('rejects concurrency %o, naming what is allowed', (bad) => {
    const call = () => gather([], { concurrency: bad as number });
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(/^gather\(\) concurrency must be an integer ≥ 1 or Infinity; received /);
  });

  it('rejects a signal that is not an AbortSignal, and a settle that is not a boolean', () => {
    expect(() => gather([], { signal: {} as AbortSignal })).toThrow(
      'gather() signal must be an AbortSignal; received an object',
    );
    expect(() => gather([], { settle: 'yes' as never })).toThrow(
      'gather() settle must be a boolean; received "yes"',
    );
  });

  it('throws before starting any task', () => {
    const task = controllable<number>();
    expect(() => gather([task, 3 as never])).toThrow(InvalidArgumentError);
    expect(task.started).toBe(false);
  });
});

describe('gather: the classic ten one-second tasks', () => {
  const processData = async (data: string): Promise<string> => {
    await sleep(1000);
    return `Processed ${data}`;
  };
  const tasks = Array.from({ length: 10 }, (_, i) => () => processData(`Data ${i}`));
  const expected = Array.from({ length: 10 }, (_, i) => `Processed Data ${i}`);

  it.each([
    ['without a limit', undefined, 1000],
    ['at concurrency 10', 10, 1000],
    ['at concurrency 5', 5, 2000],
  ])('finish %s in the expected time', async (_, concurrency, ms) => {
    vi.useFakeTimers();
    const start = performance.now();
    let finishedAt: number | undefined;
    const result = gather(tasks, { concurrency }).then((r) => {
      finishedAt = performance.now();
      return r;
    });
    await vi.advanceTimersByTimeAsync(ms - 1);
    expect(finishedAt).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(await result).toEqual(expected);
    expect((finishedAt as number) - start).toBe(ms);
  });
});

describe('gather: a task that ends the gather as it starts', () => {
  it.each([
    ['without a limit', undefined],
    ['with a limit', 2],
  ])(
    'starts nothing more after a task aborts the caller’s signal synchronously (%s)',
    async (_, concurrency) => {
      const controller = new AbortController();
      const started: number[] = [];
      const tasks = Array.from({ length: 4 }, (_, i) => () => {
        started.push(i);
        if (i === 1) controller.abort('from inside');
        return new Promise(() => {});
      });
      await expect(gather(tasks, { concurrency, signal: controller.signal })).rejects.toBe('from inside');
      expect(started).toEqual([0, 1]);
    },
  );
});
