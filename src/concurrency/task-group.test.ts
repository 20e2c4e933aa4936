import { getEventListeners } from 'node:events';
import { setTimeout as wait } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { sleep } from './sleep.ts';
import { TaskGroup, TaskGroupClosedError, TaskGroupCloseTimeoutError } from './task-group.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** A task that runs until its signal aborts, then rejects the way the signal's users do. */
const untilAborted =
  (how: 'reason' | 'abort-error' = 'reason') =>
  (signal: AbortSignal): Promise<never> =>
    how === 'reason'
      ? new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        )
      : wait(60_000, undefined, { signal }).then(() => {
          throw new Error('not reached');
        });

describe('TaskGroup.run', () => {
  it('resolves with the body’s result once every task has settled', async () => {
    const done: number[] = [];
    const result = await TaskGroup.run(async (group) => {
      group.spawn(async () => {
        await sleep(5);
        done.push(1);
      });
      group.spawn(async () => {
        await sleep(1);
        done.push(2);
      });
      return 'body';
    });
    expect(result).toBe('body');
    expect(done.sort()).toEqual([1, 2]);
  });

  it('gives every task the group’s signal and returns each task’s promise', async () => {
    await TaskGroup.run(async (group) => {
      const a = group.spawn((signal) => signal);
      const b = group.spawn(async (signal) => signal);
      expect(await a).toBe(group.signal);
      expect(await b).toBe(group.signal);
      expect(group.signal.aborted).toBe(false);
    });
  });

  it('aborts every sibling’s signal when one task fails, and throws an AggregateError of the failure', async () => {
    const boom = new Error('boom');
    const signals: AbortSignal[] = [];
    const error = await TaskGroup.run((group) => {
      group.spawn((signal) => {
        signals.push(signal);
        return untilAborted('reason')(signal);
      });
      group.spawn((signal) => {
        signals.push(signal);
        return untilAborted('abort-error')(signal);
      });
      group.spawn(async () => {
        await sleep(1);
        throw boom;
      });
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregateError);
    // The siblings' rejections only echo the group's abort, so they are not failures.
    expect((error as AggregateError).errors).toEqual([boom]);
    expect(signals.every((s) => s.aborted && s.reason === boom)).toBe(true);
  });

  it('holds every real failure, including one a sibling raised while stopping', async () => {
    const first = new Error('first');
    const second = new Error('second, while cleaning up');
    const third = new Error('sync');
    const error = await TaskGroup.run((group) => {
      group.spawn(async () => {
        await sleep(1);
        throw first;
      });
      group.spawn(
        (signal) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(second), { once: true })),
      );
      group.spawn(async (signal) => {
        await sleep(5);
        if (signal.aborted) throw third;
      });
    }).catch((e: unknown) => e);
    expect((error as AggregateError).errors).toEqual([first, second, third]);
    expect((error as AggregateError).message).toBe('3 tasks of the group failed');
  });

  it('waits for every task to settle before throwing', async () => {
    let slowFinished = false;
    const run = TaskGroup.run((group) => {
      group.spawn(async () => {
        throw new Error('fast');
      });
      group.spawn(async () => {
        await sleep(20);
        slowFinished = true;
      });
    });
    await expect(run).rejects.toBeInstanceOf(AggregateError);
    expect(slowFinished).toBe(true);
  });

  it('counts a synchronous throw from a task as a failure', async () => {
    const boom = new Error('sync');
    const error = await TaskGroup.run((group) => {
      const p = group.spawn(() => {
        throw boom;
      });
      p.catch(() => {});
    }).catch((e: unknown) => e);
    expect((error as AggregateError).errors).toEqual([boom]);
  });

  it('counts the body’s own failure, cancels the tasks, and does not count an error twice', async () => {
    const boom = new Error('body');
    const signals: AbortSignal[] = [];
    const error = await TaskGroup.run(async (group) => {
      group.spawn((signal) => {
        signals.push(signal);
        return untilAborted()(signal);
      });
      throw boom;
    }).catch((e: unknown) => e);
    expect((error as AggregateError).errors).toEqual([boom]);
    expect(signals[0]?.aborted).toBe(true);

    const failure = new Error('task');
    const again = await TaskGroup.run(async (group) => {
      await group.spawn(async () => {
        throw failure;
      });
    }).catch((e: unknown) => e);
    expect((again as AggregateError).errors).toEqual([failure]);
  });

  it('lets tasks spawn more tasks while the group waits', async () => {
    const order: string[] = [];
    await TaskGroup.run((group) => {
      group.spawn(async () => {
        await sleep(1);
        group.spawn(async () => {
          await sleep(5);
          order.push('child');
        });
        order.push('parent');
      });
    });
    expect(order).toEqual(['parent', 'child']);
  });

  it('refuses to start a task once cancelled: its promise rejects with the reason, not counted', async () => {
    const boom = new Error('boom');
    let late: Promise<unknown> | undefined;
    let lateRan = false;
    const error = await TaskGroup.run(async (group) => {
      await group
        .spawn(async () => {
          throw boom;
        })
        .catch(() => {});
      late = group.spawn(() => {
        lateRan = true;
      });
    }).catch((e: unknown) => e);
    expect((error as AggregateError).errors).toEqual([boom]);
    await expect(late).rejects.toBe(boom);
    expect(lateRan).toBe(false);
  });

  it('throws TaskGroupClosedError on a spawn after the group finished', async () => {
    let kept: TaskGroup | undefined;
    await TaskGroup.run((group) => {
      kept = group;
    });
    expect(kept?.closed).toBe(true);
    expect(() => kept?.spawn(() => 1)).toThrow(TaskGroupClosedError);
    expect(() => kept?.spawn(() => 1)).toThrow(expect.objectContaining({ code: 'KEEL_TASK_GROUP_CLOSED' }));
  });

  it('reports how many tasks are still running', async () => {
    await TaskGroup.run(async (group) => {
      const a = group.spawn(() => sleep(1));
      group.spawn(() => sleep(2));
      expect(group.size).toBe(2);
      await a;
      expect(group.size).toBe(1);
    });
  });
});

describe('TaskGroup: cancellation', () => {
  it('is cancelled by its parent signal: tasks are aborted, awaited, and the group rejects with the reason', async () => {
    const controller = new AbortController();
    const reason = new Error('shutdown');
    let stopped = false;
    const run = TaskGroup.run(
      (group) => {
        group.spawn(async (signal) => {
          await untilAborted()(signal).catch(() => {});
          await sleep(1);
          stopped = true;
        });
        group.spawn(untilAborted('abort-error'));
      },
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(reason), 1);
    await expect(run).rejects.toBe(reason);
    expect(stopped).toBe(true);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('with an already aborted parent, starts nothing and rejects with the reason', async () => {
    let ran = false;
    const run = TaskGroup.run(
      (group) => {
        group
          .spawn(() => {
            ran = true;
          })
          .catch(() => {});
      },
      { signal: AbortSignal.abort('early') },
    );
    await expect(run).rejects.toBe('early');
    expect(ran).toBe(false);
  });

  it('abort() cancels every task and the group rejects with the reason', async () => {
    const run = TaskGroup.run((group) => {
      group.spawn(untilAborted());
      group.spawn(untilAborted('abort-error'));
      setTimeout(() => group.abort(new Error('enough')), 1);
    });
    await expect(run).rejects.toThrow('enough');
    const defaultReason = TaskGroup.run((group) => {
      group.spawn(untilAborted());
      group.abort();
    });
    await expect(defaultReason).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('removes its listener from the parent signal when it finishes normally', async () => {
    const controller = new AbortController();
    await TaskGroup.run((group) => void group.spawn(() => sleep(1)), { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

describe('TaskGroup with await using', () => {
  it('waits for its tasks at the end of the block', async () => {
    const done: string[] = [];
    {
      await using group = new TaskGroup();
      group.spawn(async () => {
        await sleep(5);
        done.push('task');
      });
      done.push('block');
    }
    expect(done).toEqual(['block', 'task']);
  });

  it('throws the AggregateError of its failures at the end of the block', async () => {
    const boom = new Error('boom');
    const run = async () => {
      await using group = new TaskGroup();
      group.spawn(async () => {
        throw boom;
      });
      group.spawn(untilAborted());
    };
    const error = await run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors).toEqual([boom]);
  });

  it('settles disposal once, however often it is called', async () => {
    const group = new TaskGroup();
    group.spawn(() => sleep(1));
    const a = group[Symbol.asyncDispose]();
    const b = group[Symbol.asyncDispose]();
    expect(a).toBe(b);
    await a;
    expect(group.closed).toBe(true);
  });
});

describe('TaskGroup: bad inputs', () => {
  it('names what was wrong', async () => {
    expect(() => TaskGroup.run('x' as never)).toThrow(
      new InvalidArgumentError('TaskGroup.run() body must be a function; received "x"'),
    );
    expect(() => new TaskGroup({ signal: {} as AbortSignal })).toThrow(
      'TaskGroup signal must be an AbortSignal; received an object',
    );
    await TaskGroup.run((group) => {
      expect(() => group.spawn(null as never)).toThrow(
        'TaskGroup.spawn() task must be a function; received null',
      );
    });
  });
});

describe('TaskGroup: closing', () => {
  it('closes in the same turn as its last task settles, so a late spawn is refused, not lost', async () => {
    const group = new TaskGroup();
    const { promise, resolve } = Promise.withResolvers<void>();
    group.spawn(() => promise);
    const disposed = group[Symbol.asyncDispose]();
    let refused: unknown;
    promise.then(() => {
      try {
        group.spawn(() => 'too late');
      } catch (error) {
        refused = error;
      }
    });
    resolve();
    await disposed;
    expect(refused).toBeInstanceOf(TaskGroupClosedError);
  });
});

describe('TaskGroup: closing with a deadline', () => {
  /** A task that ignores its signal and ends only when the test says so. */
  const stubborn = () => {
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    let signal: AbortSignal | undefined;
    const task = (s: AbortSignal) => {
      signal = s;
      return promise;
    };
    return { task, resolve, reject, signal: () => signal };
  };

  it('close({ timeoutMs }) resolves when the tasks finish in time, leaving no timer', async () => {
    vi.useFakeTimers();
    const group = new TaskGroup();
    const slow = stubborn();
    const result = group.spawn(slow.task);
    const closed = group.close({ timeoutMs: 1_000 });
    await vi.advanceTimersByTimeAsync(999);
    slow.resolve('done');
    await expect(closed).resolves.toBeUndefined();
    await expect(result).resolves.toBe('done');
    expect(slow.signal()?.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('past the deadline aborts the stragglers, closes and rejects with TaskGroupCloseTimeoutError', async () => {
    vi.useFakeTimers();
    const group = new TaskGroup();
    const slow = stubborn();
    const result = group.spawn(slow.task);
    result.catch(() => {});
    const closed = group.close({ timeoutMs: 500 });
    closed.catch(() => {});
    await vi.advanceTimersByTimeAsync(500);
    const error = await closed.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskGroupCloseTimeoutError);
    expect(error).toMatchObject({ code: 'KEEL_TASK_GROUP_CLOSE_TIMEOUT', pending: 1, timeoutMs: 500 });
    expect((error as Error).message).toBe(
      'TaskGroup did not close within 500 ms; aborted 1 task still running',
    );
    expect(slow.signal()?.aborted).toBe(true);
    expect(slow.signal()?.reason).toBe(error);
    expect(group.closed).toBe(true);
    expect(() => group.spawn(() => 1)).toThrow(TaskGroupClosedError);
    expect(vi.getTimerCount()).toBe(0);
    // A straggler's late failure is handled, never unhandled.
    slow.reject(new Error('late'));
    await Promise.resolve();
  });

  it('carries earlier failures as the cause of the timeout error', async () => {
    vi.useFakeTimers();
    const group = new TaskGroup();
    const slow = stubborn();
    void group.spawn(slow.task).catch(() => {});
    void group.spawn(() => Promise.reject(new Error('first'))).catch(() => {});
    const closed = group.close({ timeoutMs: 100 });
    closed.catch(() => {});
    await vi.advanceTimersByTimeAsync(100);
    const error = (await closed.catch((e: unknown) => e)) as TaskGroupCloseTimeoutError;
    expect(error).toBeInstanceOf(TaskGroupCloseTimeoutError);
    expect(error.cause).toBeInstanceOf(AggregateError);
    expect((error.cause as AggregateError).errors.map((e: Error) => e.message)).toEqual(['first']);
  });

  it('TaskGroup.run and await using are bounded by closeTimeoutMs', async () => {
    vi.useFakeTimers();
    const slow = stubborn();
    const run = TaskGroup.run(
      (group) => {
        void group.spawn(slow.task).catch(() => {});
        return 'body';
      },
      { closeTimeoutMs: 2 ** 31 + 5 },
    );
    run.catch(() => {});
    await vi.advanceTimersByTimeAsync(2 ** 31);
    expect(slow.signal()?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(5);
    await expect(run).rejects.toBeInstanceOf(TaskGroupCloseTimeoutError);
    expect(vi.getTimerCount()).toBe(0);

    const other = stubborn();
    const scope = async () => {
      await using group = new TaskGroup({ closeTimeoutMs: 50 });
      void group.spawn(other.task).catch(() => {});
    };
    const ended = scope();
    ended.catch(() => {});
    await vi.advanceTimersByTimeAsync(50);
    await expect(ended).rejects.toBeInstanceOf(TaskGroupCloseTimeoutError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close({ signal }) aborts the stragglers with the reason and rejects with it, leaving no listener', async () => {
    const group = new TaskGroup();
    const slow = stubborn();
    void group.spawn(slow.task).catch(() => {});
    const controller = new AbortController();
    const closed = group.close({ signal: controller.signal });
    controller.abort('stop waiting');
    await expect(closed).rejects.toBe('stop waiting');
    expect(slow.signal()?.reason).toBe('stop waiting');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});
