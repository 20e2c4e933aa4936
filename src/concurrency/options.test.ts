import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { asCompleted } from './as-completed.ts';
import { gather } from './gather.ts';
import { Pool } from './pool.ts';
import { RateLimiter } from './rate-limiter.ts';
import { retry } from './retry.ts';
import { Semaphore } from './semaphore.ts';
import { sleep } from './sleep.ts';
import { TaskGroup } from './task-group.ts';
import { timeout } from './timeout.ts';

/** What `call` threw synchronously, or rejected with. */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

// Each call with a misspelt or foreign key: [label, known keys, the call].
const calls: readonly [string, string, (extra: object) => unknown][] = [
  ['Pool options', 'concurrency, maxQueued, closeTimeoutMs', (o) => new Pool({ concurrency: 1, ...o })],
  ['Pool.run() options', 'signal', (o) => new Pool({ concurrency: 1 }).run(() => 1, o)],
  ['Pool.onIdle() options', 'signal', (o) => new Pool({ concurrency: 1 }).onIdle(o)],
  ['Pool.onSpace() options', 'signal', (o) => new Pool({ concurrency: 1 }).onSpace(o)],
  ['Pool.close() options', 'timeoutMs, signal', (o) => new Pool({ concurrency: 1 }).close(o)],
  ['TaskGroup options', 'signal, closeTimeoutMs', (o) => new TaskGroup(o)],
  ['TaskGroup.run() options', 'signal, closeTimeoutMs', (o) => TaskGroup.run(() => 1, o)],
  ['TaskGroup.close() options', 'timeoutMs, signal', (o) => new TaskGroup().close(o)],
  ['gather() options', 'concurrency, signal, settle', (o) => gather([], o)],
  ['asCompleted() options', 'signal', (o) => asCompleted([], o)],
  ['timeout() options', 'signal', (o) => timeout(() => 1, 10, o)],
  ['sleep() options', 'signal', (o) => sleep(1, o)],
  [
    'retry() options',
    'attempts, minDelay, maxDelay, factor, jitter, retryIf, signal',
    (o) => retry(() => 1, o),
  ],
  ['Semaphore.acquire() options', 'signal', (o) => new Semaphore(1).acquire(o)],
  ['RateLimiter options', 'limit, interval, burst', (o) => new RateLimiter({ limit: 1, interval: 10, ...o })],
  ['RateLimiter.acquire() options', 'signal', (o) => new RateLimiter({ limit: 1, interval: 10 }).acquire(o)],
];

describe('concurrency options: unknown keys are refused by name', () => {
  it.each(calls)('%s refuses an unknown key, naming it and the known ones', async (label, known, call) => {
    const error = await failure(() => call({ maxQueue: 5 }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe(`${label}: unknown option "maxQueue"; known options: ${known}`);
  });

  it('new Pool({ concurrency: 1, maxQueue: 5 }) throws at once, naming maxQueue and maxQueued', () => {
    expect(() => new Pool({ concurrency: 1, maxQueue: 5 } as never)).toThrow(
      new InvalidArgumentError(
        'Pool options: unknown option "maxQueue"; known options: concurrency, maxQueued, closeTimeoutMs',
      ),
    );
  });

  it('new TaskGroup validates its options like TaskGroup.run does', () => {
    expect(() => new TaskGroup({ signal: 'soon' } as never)).toThrow(
      new InvalidArgumentError('TaskGroup signal must be an AbortSignal; received "soon"'),
    );
    expect(() => new TaskGroup({ closeTimeoutMs: -1 })).toThrow(
      new InvalidArgumentError(
        'TaskGroup closeTimeoutMs must be a number of milliseconds ≥ 0 or Infinity; received -1',
      ),
    );
    expect(() => new TaskGroup(null as never)).toThrow(
      new InvalidArgumentError('TaskGroup options must be an options object; received null'),
    );
  });
});
