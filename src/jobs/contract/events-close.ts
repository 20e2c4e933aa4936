/** JobQueue contract: events and closing workers and queues within a deadline. */
import { describe, expect, it, vi } from 'vitest';
import { JobAbortedError, QueueClosedError } from '../errors.ts';
import type { Job } from '../types.ts';
import { completions, type Fresh, next, type OpenForTest, sleep } from './helpers.ts';

export function eventsAndClose(fresh: Fresh, _open: OpenForTest): void {
  describe('events', () => {
    it('a listener that throws is reported as an error event and harms neither job nor peers', async () => {
      const queue = await fresh();
      const errors: unknown[] = [];
      queue.on('error', ({ error }) => errors.push(error));
      queue.on('completed', () => {
        throw new Error('listener bug');
      });
      const done = next(queue, 'completed');
      const worker = await queue.process(() => 'fine');
      const workerSaw = new Promise((resolve) => worker.on('completed', resolve));
      await queue.add('n', null);
      expect((await done).result).toBe('fine');
      await workerSaw;
      expect(errors).toHaveLength(1);
      expect((errors[0] as Error).message).toBe('listener bug');
      expect((await queue.counts()).completed).toBe(1);
    });

    it('an error nobody listens to goes to the last-resort sink on stderr, naming the queue', async () => {
      const queue = await fresh();
      const written: string[] = [];
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
      try {
        queue.on('completed', () => {
          throw new Error('listener bug nobody hears');
        });
        const done = next(queue, 'completed');
        await queue.process(() => 'fine');
        await queue.add('n', null);
        await done;
        await vi.waitFor(() => expect(written.join('')).toContain('listener bug nobody hears'));
      } finally {
        stderr.mockRestore();
      }
      const text = written.join('');
      expect(text).toMatch(
        /^\[keel jobs\] queue "[^"]+": error with no 'error' listener: Error: listener bug/m,
      );
      expect(text).not.toContain('Unhandled error event');
    });

    it('stops calling a listener once unsubscribed, also through Symbol.dispose', async () => {
      const queue = await fresh();
      const calls: string[] = [];
      const off = queue.on('completed', () => calls.push('a'));
      const sub = queue.on('completed', () => calls.push('b'));
      const done = completions(queue, 2);
      await queue.process(() => {});
      off();
      sub[Symbol.dispose]();
      await queue.add('n', 1);
      await queue.add('n', 2);
      await done;
      expect(calls).toEqual([]);
    });
  });

  describe('close', () => {
    it('lets an active job finish within the deadline', async () => {
      const queue = await fresh();
      let aborted = false;
      const started = next(queue, 'progress');
      const done = next(queue, 'completed');
      const worker = await queue.process(async (job, { signal }) => {
        await job.progress(1);
        await sleep(200);
        aborted = signal.aborted;
        return 'finished';
      });
      await queue.add('n', null);
      await started;
      await worker.close({ timeoutMs: 10_000 });
      expect((await done).result).toBe('finished');
      expect(aborted).toBe(false);
      expect((await queue.counts()).completed).toBe(1);
    });

    it("aborts the handler's signal past the deadline and puts the job back without using an attempt", async () => {
      const queue = await fresh();
      const started = next(queue, 'progress');
      let reason: unknown;
      const failed: unknown[] = [];
      queue.on('failed', (e) => failed.push(e));
      const worker = await queue.process(async (job, { signal }) => {
        await job.progress(1);
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            reject(signal.reason);
          }),
        );
      });
      const id = await queue.add('long', null, { attempts: 1 });
      await started;
      await worker.close({ timeoutMs: 50 });
      expect(reason).toBeInstanceOf(JobAbortedError);
      expect((reason as JobAbortedError).code).toBe('KEEL_JOB_ABORTED');
      expect(failed).toEqual([]);
      expect(await queue.counts()).toMatchObject({ waiting: 1, active: 0, failed: 0 });
      const rerun = new Promise<Job>((resolve) => {
        queue.process((job) => {
          resolve(job);
        });
      });
      expect(await rerun).toMatchObject({ id, attempt: 1 });
    });

    it('gives up on a handler that ignores its signal after a short grace', async () => {
      const queue = await fresh();
      const started = next(queue, 'progress');
      const { promise: never, resolve: free } = Promise.withResolvers<void>();
      const worker = await queue.process(async (job) => {
        await job.progress(1);
        await never;
      });
      await queue.add('stubborn', null);
      await started;
      const t0 = Date.now();
      await worker.close({ timeoutMs: 50 });
      expect(Date.now() - t0).toBeLessThan(3500);
      expect(await queue.counts()).toMatchObject({ waiting: 1, active: 0 });
      free();
    });

    it('refuses add and process once closed', async () => {
      const queue = await fresh();
      await queue.close();
      await expect(queue.add('n', null)).rejects.toBeInstanceOf(QueueClosedError);
      await expect(queue.process(() => {})).rejects.toMatchObject({ code: 'KEEL_JOB_QUEUE_CLOSED' });
      await queue.close();
    });

    it("closing the queue closes its workers with the same deadline, aborting handlers' signals past it", async () => {
      const queue = await fresh();
      const started = next(queue, 'progress');
      let reason: unknown;
      await queue.process(async (job, { signal }) => {
        await job.progress(1);
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            reject(signal.reason);
          }),
        );
      });
      await queue.add('long', null);
      await started;
      await queue.close({ timeoutMs: 50 });
      expect(reason).toBeInstanceOf(JobAbortedError);
    });

    it('closes its workers when the queue closes', async () => {
      const queue = await fresh();
      const calls: number[] = [];
      const done = next(queue, 'completed');
      await queue.process((job) => {
        calls.push(job.data);
      });
      await queue.add('n', 1);
      await done;
      await queue.close({ timeoutMs: 1000 });
      expect(calls).toEqual([1]);
    });
  });
}
