/** JobQueue contract: attempts, backoff, delay and priority. */
import { describe, expect, it } from 'vitest';
import type { JobEvents } from '../types.ts';
import { completions, type Fresh, next, type OpenForTest } from './helpers.ts';

export function retriesAndDelays(fresh: Fresh, _open: OpenForTest): void {
  describe('attempts and backoff', () => {
    it('retries a failing job until an attempt succeeds, counting attempts from 1', async () => {
      const queue = await fresh();
      const attempts: number[] = [];
      const failed: JobEvents['failed'][] = [];
      queue.on('failed', (e) => failed.push(e));
      const done = next(queue, 'completed');
      await queue.process((job) => {
        attempts.push(job.attempt);
        if (job.attempt < 3) throw new Error(`boom ${job.attempt}`);
        return 'ok';
      });
      await queue.add('flaky', null, { attempts: 3 });
      const completed = await done;
      expect(attempts).toEqual([1, 2, 3]);
      expect(failed.map((f) => [f.job.attempt, f.willRetry, (f.error as Error).message])).toEqual([
        [1, true, 'boom 1'],
        [2, true, 'boom 2'],
      ]);
      expect(completed.job.attempt).toBe(3);
    });

    it('fails a job for good once its attempts are used up', async () => {
      const queue = await fresh();
      const final = next(queue, 'failed', (e) => !e.willRetry);
      await queue.process(() => {
        throw new Error('always');
      });
      const id = await queue.add('doomed', null, { attempts: 2 });
      const event = await final;
      expect(event.job).toEqual({ id, name: 'doomed', attempt: 2, attempts: 2 });
      expect((event.error as Error).message).toBe('always');
      expect(await queue.counts()).toMatchObject({ failed: 1, completed: 0, waiting: 0, delayed: 0 });
    });

    it('waits the exponential backoff between attempts', async () => {
      const queue = await fresh();
      const at: number[] = [];
      const done = next(queue, 'completed');
      await queue.process((job) => {
        at.push(Date.now());
        if (job.attempt < 3) throw new Error('again');
      });
      await queue.add('slow', null, { attempts: 3, backoff: { type: 'exponential', delayMs: 150 } });
      await done;
      expect(at).toHaveLength(3);
      // Lower bounds only: a retry must never come early; a few ms of clock rounding are allowed.
      expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(145);
      expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(295);
    });
  });

  describe('delay and priority', () => {
    it('does not run a delayed job before its delay, and runs later plain jobs first', async () => {
      const queue = await fresh();
      const order: string[] = [];
      const done = completions(queue, 2);
      await queue.process((job) => {
        order.push(job.name);
      });
      const addedAt = Date.now();
      let delayedAt = 0;
      queue.on('completed', ({ job }) => {
        if (job.name === 'later') delayedAt = Date.now();
      });
      await queue.add('later', null, { delay: 300 });
      expect((await queue.counts()).delayed).toBe(1);
      await queue.add('now', null);
      await done;
      expect(order).toEqual(['now', 'later']);
      expect(delayedAt - addedAt).toBeGreaterThanOrEqual(295);
    });

    it('runs plain jobs first, then prioritized ones by number, ties in arrival order', async () => {
      const queue = await fresh();
      await queue.add('p3', null, { priority: 3 });
      await queue.add('p1-a', null, { priority: 1 });
      await queue.add('plain', null);
      await queue.add('p2', null, { priority: 2 });
      await queue.add('p1-b', null, { priority: 1 });
      const order: string[] = [];
      const done = completions(queue, 5);
      await queue.process((job) => {
        order.push(job.name);
      });
      await done;
      expect(order).toEqual(['plain', 'p1-a', 'p1-b', 'p2', 'p3']);
    });
  });
}
