import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../errors.ts';
import { UnknownKindError } from '../../registry/index.ts';
import { badQueueNames } from '../contract/helpers.ts';
import { runJobQueueContract } from '../job-queue.contract.ts';
import { openQueue } from '../open-queue.ts';

runJobQueueContract('memory', (options) => openQueue('memory://', 'contract', options));

describe('memory queue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('opens by URL and refuses unknown schemes and bad names', async () => {
    await expect(openQueue('kafka://x', 'q')).rejects.toBeInstanceOf(UnknownKindError);
    await expect(openQueue('not a url', 'q')).rejects.toThrow('job queue URL must be a valid URL string');
    await expect(openQueue('memory://', 'a:b')).rejects.toThrow(
      'openQueue() queue name must be 1 to 100 characters from A-Z a-z 0-9 . _ -; received "a:b"',
    );
    await expect(openQueue('memory://', 'q', { keepCompleted: -1 })).rejects.toThrow(
      'openQueue() keepCompleted must be an integer ≥ 0; received -1',
    );
  });

  it.each(['memory://a', 'memory://a/b?x', 'memory:///b', 'memory://?x', 'memory://#x'])(
    'refuses %s: a memory:// queue takes nothing after the scheme',
    async (url) => {
      const error = await openQueue(url, 'q').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toContain(
        `openQueue() url: a memory:// queue takes no host, path, query or fragment; received "${url}"`,
      );
    },
  );

  it.each(badQueueNames)('refuses the queue name %j, naming the allowed characters', async (name) => {
    const error = await openQueue('memory://', name as string).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain(
      'openQueue() queue name must be 1 to 100 characters from A-Z a-z 0-9 . _ -; received',
    );
  });

  it('waits out a delay past 2^31-1 ms on one timer, without waking every millisecond', async () => {
    const queue = await openQueue('memory://', 'long-delay');
    let ran = 0;
    await queue.process(() => {
      ran++;
    });
    const armed = vi.spyOn(globalThis, 'setTimeout');
    await queue.add('n', null, { delay: 30 * 24 * 3600 * 1000 });
    await new Promise((resolve) => setImmediate(resolve));
    const afterAdd = armed.mock.calls.length;
    // Watch for a while on a timer of our own (which the spy also sees once).
    await new Promise((resolve) => setTimeout(resolve, 200));
    const wakeUps = armed.mock.calls.length - afterAdd - 1;
    armed.mockRestore();
    expect(wakeUps).toBe(0);
    expect(ran).toBe(0);
    expect(await queue.counts()).toMatchObject({ delayed: 1 });
    await queue.close();
  });

  it('runs a job delayed 30 days after 30 days, not before', async () => {
    vi.useFakeTimers();
    const queue = await openQueue('memory://', 'month');
    let ran = 0;
    await queue.process(() => {
      ran++;
    });
    const day = 24 * 3600 * 1000;
    await queue.add('n', null, { delay: 30 * day });
    await vi.advanceTimersByTimeAsync(29 * day);
    expect(ran).toBe(0);
    expect(await queue.counts()).toMatchObject({ delayed: 1 });
    await vi.advanceTimersByTimeAsync(day);
    expect(ran).toBe(1);
    await queue.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps each memory:// queue to itself', async () => {
    await using a = await openQueue('memory://', 'same');
    await using b = await openQueue('memory://', 'same');
    await a.add('n', 1);
    expect((await b.counts()).waiting).toBe(0);
  });

  it('runs delayed jobs and backoffs on the clock and leaves no timer after close', async () => {
    vi.useFakeTimers();
    const queue = await openQueue<number>('memory://', 'timers');
    const ran: number[] = [];
    await queue.process((job) => {
      ran.push(job.data);
      if (job.data === 2 && job.attempt === 1) throw new Error('retry me');
    });
    await queue.add('n', 1, { delay: 1000 });
    await queue.add('n', 2, { attempts: 2, backoff: 5000 });
    await queue.add('n', 3, { delay: 60_000 });
    await vi.advanceTimersByTimeAsync(999);
    expect(ran).toEqual([2]);
    await vi.advanceTimersByTimeAsync(1);
    expect(ran).toEqual([2, 1]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(ran).toEqual([2, 1, 2]);
    expect(await queue.counts()).toMatchObject({ delayed: 1, completed: 2 });
    expect(vi.getTimerCount()).toBe(1);
    await queue.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('forgets the oldest finished jobs beyond keepCompleted, so their ids may be added again', async () => {
    const queue = await openQueue('memory://', 'keep', { keepCompleted: 2 });
    let runs = 0;
    const done = new Promise<void>((resolve) => {
      queue.on('completed', () => {
        if (++runs === 3) resolve();
      });
    });
    await queue.process(() => {});
    for (const id of ['a', 'b', 'c']) await queue.add('n', null, { jobId: id });
    await done;
    expect((await queue.counts()).completed).toBe(2);
    await queue.add('n', null, { jobId: 'b' });
    expect((await queue.counts()).waiting + runs).toBe(3);
    await queue.add('n', null, { jobId: 'a' });
    await vi.waitFor(() => expect(runs).toBe(4));
    await queue.close();
  });
});
