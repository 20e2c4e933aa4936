/** JobQueue contract: adding jobs, running them, ids, order, concurrency, progress and jobId. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.ts';
import type { Job } from '../types.ts';
import { completions, type Fresh, next, type OpenForTest, sleep } from './helpers.ts';

export function addAndProcess(fresh: Fresh, _open: OpenForTest): void {
  describe('add and process', () => {
    it('hands the handler the id, name, data and attempt, and reports the result', async () => {
      const queue = await fresh();
      const seen: Job[] = [];
      const done = next(queue, 'completed');
      await queue.process(async (job) => {
        seen.push(job);
        return { sent: job.data.to };
      });
      const id = await queue.add('welcome', { to: 'ada' });
      const event = await done;
      expect(typeof id).toBe('string');
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ id, name: 'welcome', data: { to: 'ada' }, attempt: 1, attempts: 1 });
      expect(event).toEqual({
        job: { id, name: 'welcome', attempt: 1, attempts: 1 },
        result: { sent: 'ada' },
      });
      expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, completed: 1, failed: 0 });
    });

    it('gives every job a distinct id', async () => {
      const queue = await fresh();
      const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => queue.add('n', i)));
      expect(new Set(ids).size).toBe(20);
      expect((await queue.counts()).waiting).toBe(20);
    });

    it('runs plain jobs in the order they were added, one at a time at concurrency 1', async () => {
      const queue = await fresh();
      const order: number[] = [];
      for (let i = 0; i < 10; i++) await queue.add('n', i);
      const done = completions(queue, 10);
      await queue.process((job) => {
        order.push(job.data);
      });
      await done;
      expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('runs at most `concurrency` handlers at once', async () => {
      const queue = await fresh();
      let running = 0;
      let peak = 0;
      const done = completions(queue, 9);
      await queue.process(
        async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(30);
          running--;
        },
        { concurrency: 3 },
      );
      for (let i = 0; i < 9; i++) await queue.add('n', i);
      await done;
      expect(peak).toBe(3);
    });

    it('fails an attempt whose result JSON cannot carry, as Redis could not store it', async () => {
      const queue = await fresh();
      const failed = next(queue, 'failed');
      await queue.process(() => ({ big: 1n }));
      await queue.add('n', null);
      const event = await failed;
      expect(event.error).toBeInstanceOf(InvalidArgumentError);
      expect((event.error as Error).message).toMatch(
        /^result of job "n" must be JSON-serializable: .*BigInt/,
      );
      expect(event.willRetry).toBe(false);
    });

    it('reports progress as a progress event', async () => {
      const queue = await fresh();
      const progress = next(queue, 'progress');
      await queue.process(async (job) => {
        await job.progress(50);
        await job.progress({ step: 'sent' });
      });
      const id = await queue.add('n', null);
      expect(await progress).toEqual({ job: { id, name: 'n', attempt: 1, attempts: 1 }, progress: 50 });
    });
  });

  describe('jobId', () => {
    it('makes adding idempotent: the same id twice adds one job', async () => {
      const queue = await fresh();
      const first = await queue.add('charge', { cents: 100 }, { jobId: 'order-7' });
      const second = await queue.add('charge', { cents: 999 }, { jobId: 'order-7' });
      expect(first).toBe('order-7');
      expect(second).toBe('order-7');
      expect((await queue.counts()).waiting).toBe(1);
      const runs: unknown[] = [];
      const done = next(queue, 'completed');
      await queue.process((job) => {
        runs.push(job.data);
      });
      await done;
      expect(await queue.add('charge', { cents: 5 }, { jobId: 'order-7' })).toBe('order-7');
      await sleep(100);
      expect(runs).toEqual([{ cents: 100 }]);
    });
  });
}
