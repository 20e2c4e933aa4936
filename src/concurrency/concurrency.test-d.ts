import { describe, expectTypeOf, it } from 'vitest';
import { asCompleted } from './as-completed.ts';
import { gather } from './gather.ts';
import { Pool } from './pool.ts';
import { retry } from './retry.ts';
import { type Permit, Semaphore } from './semaphore.ts';
import { TaskGroup } from './task-group.ts';
import { timeout } from './timeout.ts';

describe('gather types', () => {
  const tasks = [() => 1, async () => 'a', (signal: AbortSignal) => signal.aborted] as const;

  it('types each result by position', () => {
    expectTypeOf(gather(tasks)).resolves.toEqualTypeOf<[number, string, boolean]>();
    expectTypeOf(gather(tasks, { concurrency: 2 })).resolves.toEqualTypeOf<[number, string, boolean]>();
    expectTypeOf(gather(tasks, { settle: false })).resolves.toEqualTypeOf<[number, string, boolean]>();
  });

  it('types settle: true as PromiseSettledResults by position', () => {
    expectTypeOf(gather(tasks, { settle: true })).resolves.toEqualTypeOf<
      [PromiseSettledResult<number>, PromiseSettledResult<string>, PromiseSettledResult<boolean>]
    >();
  });

  it('types an undecided settle as either shape', () => {
    const settle = Math.random() > 0.5;
    expectTypeOf(gather(tasks, { settle })).resolves.toEqualTypeOf<
      | [number, string, boolean]
      | [PromiseSettledResult<number>, PromiseSettledResult<string>, PromiseSettledResult<boolean>]
    >();
  });

  it('types arrays of like tasks as arrays', () => {
    const many = Array.from({ length: 3 }, () => async () => 1);
    expectTypeOf(gather(many)).resolves.toEqualTypeOf<number[]>();
    expectTypeOf(gather(many, { settle: true })).resolves.toEqualTypeOf<PromiseSettledResult<number>[]>();
  });

  it('rejects what is not a task', () => {
    // @ts-expect-error a task is a function
    gather([1]);
    // @ts-expect-error options are checked
    gather([], { concurrency: '2' });
  });
});

describe('the other operations', () => {
  it('Pool.run resolves to the task’s result', () => {
    const pool = new Pool({ concurrency: 1 });
    expectTypeOf(pool.run(async () => 'x')).toEqualTypeOf<Promise<string>>();
    expectTypeOf(pool.run((signal) => signal.aborted)).toEqualTypeOf<Promise<boolean>>();
    // @ts-expect-error concurrency is required
    new Pool({});
  });

  it('TaskGroup.run resolves to the body’s result; spawn to the task’s', async () => {
    expectTypeOf(
      TaskGroup.run(async (group) => {
        expectTypeOf(group.spawn(async () => 1)).toEqualTypeOf<Promise<number>>();
        return 'done' as const;
      }),
    ).toEqualTypeOf<Promise<'done'>>();
  });

  it('timeout and retry resolve to the work’s result', () => {
    expectTypeOf(timeout(async () => 1, 10)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(retry(async (_signal, attempt) => attempt)).toEqualTypeOf<Promise<number>>();
  });

  it('asCompleted yields awaited values; Semaphore hands out disposable permits', () => {
    expectTypeOf(asCompleted([Promise.resolve(1), 2])).toEqualTypeOf<
      AsyncGenerator<number, void, undefined>
    >();
    expectTypeOf(new Semaphore(1).acquire()).resolves.toEqualTypeOf<Permit>();
    expectTypeOf<Permit>().toExtend<Disposable>();
  });
});
