import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { asCompleted } from './as-completed.ts';
import { gather } from './gather.ts';
import { Pool } from './pool.ts';
import { RateLimiter } from './rate-limiter.ts';
import { Semaphore } from './semaphore.ts';
import { TaskGroup } from './task-group.ts';

// Each caller runs in its own store; a task or waiter that sees another caller's store has leaked context
// (a request id, a tenant, a trace) from whoever freed the slot.
const store = new AsyncLocalStorage<string>();

/** The store seen after an await, so a context lost across the task's own continuation shows too. */
const storeAfterATick = async (): Promise<string | undefined> => {
  await Promise.resolve();
  return store.getStore();
};

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('Pool keeps the async context of the caller of run()', () => {
  it('runs every queued task in its own caller’s context, at concurrency 1', async () => {
    const pool = new Pool({ concurrency: 1 });
    const seen = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.run(`caller ${i}`, () =>
          pool.run(async () => {
            const before = store.getStore();
            await Promise.resolve();
            return [before, store.getStore()];
          }),
        ),
      ),
    );
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => [`caller ${i}`, `caller ${i}`]));
  });

  it('keeps it for tasks run with a signal, that throw synchronously, or that fail', async () => {
    const pool = new Pool({ concurrency: 1 });
    const signal = new AbortController().signal;
    const results = await Promise.allSettled([
      store.run('a', () => pool.run(() => store.getStore(), { signal })),
      store.run('b', () =>
        pool.run(() => {
          throw new Error(String(store.getStore()));
        }),
      ),
      store.run('c', () => pool.run(async () => Promise.reject(new Error(String(store.getStore()))))),
      store.run('d', () => pool.run(() => store.getStore())),
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
  });

  it('runs queued tasks in their callers’ contexts when concurrency is raised later', async () => {
    const pool = new Pool({ concurrency: 1 });
    const { promise: gate, resolve: open } = Promise.withResolvers<void>();
    const first = store.run('first', () => pool.run(() => gate.then(() => store.getStore())));
    const queued = Array.from({ length: 5 }, (_, i) =>
      store.run(`queued ${i}`, () => pool.run(() => store.getStore())),
    );
    await ticks();
    store.run('setter', () => {
      pool.concurrency = 10;
    });
    expect(await Promise.all(queued)).toEqual(Array.from({ length: 5 }, (_, i) => `queued ${i}`));
    open();
    expect(await first).toBe('first');
  });

  it('resumes onIdle() and onSpace() waiters in their own contexts', async () => {
    const pool = new Pool({ concurrency: 1, maxQueued: 0 });
    const { promise: gate, resolve: open } = Promise.withResolvers<void>();
    const running = store.run('runner', () => pool.run(() => gate));
    const idle = store.run('idle waiter', () => pool.onIdle().then(() => store.getStore()));
    const space = store.run('space waiter', () => pool.onSpace().then(() => store.getStore()));
    store.run('freer', () => open());
    await running;
    expect(await idle).toBe('idle waiter');
    expect(await space).toBe('space waiter');
  });

  it('a task aborted between being handed a slot and starting never runs, and the slot goes on', async () => {
    const pool = new Pool({ concurrency: 1 });
    const { promise: gate, resolve: open } = Promise.withResolvers<void>();
    const controller = new AbortController();
    let ran = false;
    const first = pool.run(() => gate);
    const second = pool.run(
      () => {
        ran = true;
      },
      { signal: controller.signal },
    );
    const third = pool.run(() => 'third');
    await ticks();
    // Registered after the pool's own reaction to the first task, so it runs once the slot is handed to
    // the second task but before that task's continuation starts it.
    void gate.then(() => controller.abort(new Error('gone')));
    open();
    await expect(second).rejects.toThrow('gone');
    await expect(third).resolves.toBe('third');
    await expect(first).resolves.toBeUndefined();
    expect(ran).toBe(false);
    expect(pool.pending).toBe(0);
  });
});

describe('The other primitives keep their callers’ contexts', () => {
  it('Semaphore.acquire() waiters resume in their own contexts, not the releaser’s', async () => {
    const semaphore = new Semaphore(1);
    const held = semaphore.tryAcquire();
    const waiters = Array.from({ length: 5 }, (_, i) =>
      store.run(`waiter ${i}`, async () => {
        using _permit = await semaphore.acquire();
        await Promise.resolve();
        return store.getStore();
      }),
    );
    store.run('releaser', () => held?.release());
    expect(await Promise.all(waiters)).toEqual(Array.from({ length: 5 }, (_, i) => `waiter ${i}`));
  });

  it('RateLimiter.acquire() waiters resume in their own contexts, not the timer’s', async () => {
    const limiter = new RateLimiter({ limit: 1, interval: 5 });
    const waiters = Array.from({ length: 3 }, (_, i) =>
      store.run(`waiter ${i}`, async () => {
        await limiter.acquire();
        return store.getStore();
      }),
    );
    expect(await Promise.all(waiters)).toEqual(['waiter 0', 'waiter 1', 'waiter 2']);
  });

  it('TaskGroup tasks run in the context of the spawner', async () => {
    const seen = await TaskGroup.run((group) =>
      Promise.all(['x', 'y'].map((name) => store.run(name, () => group.spawn(storeAfterATick)))),
    );
    expect(seen).toEqual(['x', 'y']);
  });

  it('gather() with a limit runs every task in the context of its caller', async () => {
    const results = await Promise.all(
      ['one', 'two'].map((name) =>
        store.run(name, () =>
          gather(
            Array.from({ length: 6 }, () => storeAfterATick),
            { concurrency: 2 },
          ),
        ),
      ),
    );
    expect(results).toEqual([Array(6).fill('one'), Array(6).fill('two')]);
  });

  it('asCompleted() resumes its consumer in the consumer’s context', async () => {
    const inputs = [Promise.resolve(1), store.run('producer', () => Promise.resolve(2))];
    const seen = await store.run('consumer', async () => {
      const contexts: (string | undefined)[] = [];
      for await (const _ of asCompleted(inputs)) contexts.push(store.getStore());
      return contexts;
    });
    expect(seen).toEqual(['consumer', 'consumer']);
  });
});
