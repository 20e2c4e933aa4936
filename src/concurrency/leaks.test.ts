/** Cleanup guarantees shared by every operation: no listener piles up on a caller's signal, no handle stays. */
import { defaultMaxListeners, getEventListeners, setMaxListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { asCompleted } from './as-completed.ts';
import { gather } from './gather.ts';
import { Pool } from './pool.ts';
import { RateLimiter } from './rate-limiter.ts';
import { retry } from './retry.ts';
import { Semaphore } from './semaphore.ts';
import { sleep } from './sleep.ts';
import { TaskGroup } from './task-group.ts';
import { TimeoutError, timeout } from './timeout.ts';

const N = 10_000;

let warnings: Error[] = [];
const onWarning = (warning: Error): void => {
  if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning);
};
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

/** Lets process warnings, which Node emits on a later tick, arrive. */
const settleWarnings = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

/**
 * A long-lived signal that warns the way an EventEmitter does past its listener limit (Node leaves an
 * AbortSignal's limit off by default; frameworks and older Node versions set one).
 */
function longLived(): AbortController {
  const controller = new AbortController();
  setMaxListeners(defaultMaxListeners, controller.signal);
  return controller;
}

/**
 * The operations, each started N times with the same signal. Each stays pending until `release` resolves
 * (sleep and the rate limiter until their time passes); `aborting` says the test will abort them.
 */
const operations: Record<
  string,
  (signal: AbortSignal, release: Promise<void>, aborting: boolean) => Promise<unknown>[]
> = {
  gather: (signal, release) => Array.from({ length: N }, () => gather([() => release], { signal })),
  'gather (limit)': (signal, release) =>
    Array.from({ length: N }, () => gather([() => release, () => release], { signal, concurrency: 1 })),
  'Pool.run': (signal, release) => {
    const pool = new Pool({ concurrency: 100 });
    return Array.from({ length: N }, () => pool.run(() => release, { signal }));
  },
  'Pool.onIdle': (signal, release) => {
    const pool = new Pool({ concurrency: 1 });
    return [pool.run(() => release, { signal }), ...Array.from({ length: N }, () => pool.onIdle({ signal }))];
  },
  timeout: (signal, release) => Array.from({ length: N }, () => timeout(() => release, 60_000, { signal })),
  retry: (signal, release) => Array.from({ length: N }, () => retry(() => release, { signal })),
  sleep: (signal) => Array.from({ length: N }, () => sleep(1, { signal })),
  'Semaphore.acquire': (signal, release) => {
    const semaphore = new Semaphore(1);
    return Array.from({ length: N }, () =>
      semaphore.acquire({ signal }).then(async (permit) => {
        await release;
        permit.release();
      }),
    );
  },
  'RateLimiter.acquire': (signal, _release, aborting) => {
    // Fast enough to let all through in a test, or so slow that only the first token is ever given.
    const limiter = aborting
      ? new RateLimiter({ limit: 1, interval: 60_000 })
      : new RateLimiter({ limit: N, interval: 100, burst: 1 });
    return Array.from({ length: N }, () => limiter.acquire({ signal }));
  },
  'TaskGroup.run': (signal, release) =>
    Array.from({ length: N }, () => TaskGroup.run((group) => void group.spawn(() => release), { signal })),
  asCompleted: (signal, release) =>
    Array.from({ length: N }, async () => {
      for await (const _ of asCompleted([release], { signal })) {
        // The wait for each value watches the shared signal.
      }
    }),
};
const names = Object.keys(operations);

describe(`${N.toLocaleString('en')} operations sharing one long-lived signal`, () => {
  it('a listener per operation would trip MaxListenersExceededWarning (the check can fail)', async () => {
    // Captured where Node raises it, so the deliberate warning is asserted here rather than printed.
    const raised: unknown[] = [];
    const emit = vi.spyOn(process, 'emitWarning').mockImplementation((warning) => {
      raised.push(warning);
    });
    const { signal } = longLived();
    const handlers = Array.from({ length: 20 }, () => () => {});
    for (const h of handlers) signal.addEventListener('abort', h);
    await settleWarnings();
    emit.mockRestore();
    expect(raised.some((w) => w instanceof Error && w.name === 'MaxListenersExceededWarning')).toBe(true);
    for (const h of handlers) signal.removeEventListener('abort', h);
  });

  it.each(names)('%s: at most one listener while pending, none once settled', async (name) => {
    const { signal } = longLived();
    const { promise: release, resolve } = Promise.withResolvers<void>();
    const pending = operations[name]?.(signal, release, false) ?? [];
    await Promise.resolve();
    expect(listeners(signal)).toBeLessThanOrEqual(1);
    resolve();
    await Promise.all(pending);
    await settleWarnings();
    expect(listeners(signal)).toBe(0);
    expect(warnings).toEqual([]);
  });

  it.each(names)('%s: one abort rejects them all with the reason and leaves no listener', async (name) => {
    const controller = longLived();
    const { signal } = controller;
    const { promise: release, resolve } = Promise.withResolvers<void>();
    const pending = operations[name]?.(signal, release, true) ?? [];
    await Promise.resolve();
    const reason = new Error('shutdown');
    controller.abort(reason);
    // Work that ignores its signal (the holder of a permit, a group's task) ends when released.
    resolve();
    const outcomes = await Promise.allSettled(pending);
    const rejected = outcomes.filter((o) => o.status === 'rejected');
    // Only the first caller of the semaphore or the rate limiter, served at once, may succeed.
    expect(rejected.length).toBeGreaterThanOrEqual(N - 1);
    expect(rejected.every((o) => o.reason === reason)).toBe(true);
    await settleWarnings();
    expect(listeners(signal)).toBe(0);
    expect(warnings).toEqual([]);
  });
});

describe('no handle left behind', () => {
  /** The process's active resources, as a sorted list of kinds. */
  const resources = (): string[] => [...process.getActiveResourcesInfo()].sort();

  it('returns process.getActiveResourcesInfo() to its starting state after every kind of ending', async () => {
    const before = resources();
    const controller = new AbortController();
    const { signal } = controller;

    // Timers that end by firing, by an abort, by a deadline and by the work finishing first.
    await sleep(1);
    const aborted = sleep(60_000, { signal }).catch(() => {});
    const timedOut = timeout(() => new Promise(() => {}), 5).catch((e: unknown) => e);
    await timeout(() => sleep(1), 60_000);
    const retrying = retry(
      async () => {
        throw new Error('again');
      },
      { attempts: 5, minDelay: 60_000, maxDelay: 60_000, jitter: false, signal },
    ).catch(() => {});
    const limiter = new RateLimiter({ limit: 1, interval: 60_000 });
    await limiter.acquire();
    const limited = limiter.acquire({ signal }).catch(() => {});
    const pool = new Pool({ concurrency: 1 });
    const pooled = [pool.run(() => sleep(1)), pool.run((s) => sleep(60_000, { signal: s }), { signal })];
    const grouped = TaskGroup.run((group) => {
      group.spawn((s) => sleep(60_000, { signal: s }));
      group.spawn(async () => {
        await sleep(1);
        throw new Error('fail');
      });
    }).catch(() => {});

    expect(await timedOut).toBeInstanceOf(TimeoutError);
    await grouped;
    expect(resources().length).toBeGreaterThan(before.length);
    controller.abort();
    await Promise.all([aborted, retrying, limited, Promise.allSettled(pooled), pool.onIdle()]);
    await new Promise((resolve) => setImmediate(resolve));
    // Nothing of ours remains: every kind is back to at most its starting count (the test runner's own
    // handles may come and go meanwhile, so fewer is fine).
    const count = (kinds: string[]) =>
      kinds.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());
    const start = count(before);
    const extra = [...count(resources())].filter(([kind, n]) => n > (start.get(kind) ?? 0));
    expect(extra).toEqual([]);
  });
});
