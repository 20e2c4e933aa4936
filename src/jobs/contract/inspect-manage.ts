/** JobQueue contract: inspecting jobs, waiting for results, cancel and remove, pause, bulk adds, retries. */
import { describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../errors.ts';
import {
  InvalidJobDataError,
  JobActiveError,
  JobCancelledError,
  JobFailedError,
  JobNotFoundError,
  JobWaitTimeoutError,
} from '../errors.ts';
import { Email, type Fresh, next, type OpenForTest, sleep } from './helpers.ts';

class Coded extends Error {
  readonly code = 'E_CARD_DECLINED';
}

export function inspectAndManage(fresh: Fresh, _open: OpenForTest): void {
  describe('getJob and jobs', () => {
    it('shows a job in each state it passes through, with its result once completed', async () => {
      const queue = await fresh();
      const before = Date.now();
      const id = await queue.add('resize', { w: 10 }, { attempts: 2 });
      expect(await queue.getJob(id)).toMatchObject({
        id,
        name: 'resize',
        data: { w: 10 },
        state: 'waiting',
        attempt: 0,
        attempts: 2,
        progress: 0,
      });
      const { promise: hold, resolve: release } = Promise.withResolvers<void>();
      const started = next(queue, 'progress');
      await queue.process(async (job) => {
        await job.progress(40);
        await hold;
        return { ok: true };
      });
      await started;
      expect(await queue.getJob(id)).toMatchObject({ state: 'active', attempt: 1, progress: 40 });
      const done = next(queue, 'completed');
      release();
      await done;
      const job = await queue.getJob(id);
      expect(job).toMatchObject({ state: 'completed', result: { ok: true }, attempt: 1 });
      expect(job?.createdAt).toBeGreaterThanOrEqual(before - 1000);
      expect(job?.finishedAt).toBeGreaterThanOrEqual(job?.createdAt as number);
      expect(job?.error).toBeUndefined();
    });

    it('shows a delayed job as delayed and a failed one with its error code and message', async () => {
      const queue = await fresh();
      const late = await queue.add('later', null, { delay: 60_000 });
      expect((await queue.getJob(late))?.state).toBe('delayed');
      const failed = next(queue, 'failed');
      await queue.process(() => {
        throw new Coded('declined');
      });
      const id = await queue.add('charge', null);
      await failed;
      await vi.waitFor(async () => expect((await queue.getJob(id))?.state).toBe('failed'));
      expect((await queue.getJob(id))?.error).toEqual({ code: 'E_CARD_DECLINED', message: 'declined' });
    });

    it('gives undefined for an unknown id and refuses an id that is not a string', async () => {
      const queue = await fresh();
      expect(await queue.getJob('no-such-job')).toBeUndefined();
      expect(await queue.getJob('424242')).toBeUndefined();
      await expect(queue.getJob(42 as never)).rejects.toThrow(
        'JobQueue.getJob() id must be a non-empty string of at most 1000 characters; received 42',
      );
      await expect(queue.getJob('')).rejects.toBeInstanceOf(InvalidArgumentError);
    });

    it('lists jobs by state, a page at a time', async () => {
      const queue = await fresh();
      const ids = await queue.addBulk(Array.from({ length: 5 }, (_, i) => ({ name: 'n', data: i })));
      const first = await queue.jobs({ state: 'waiting', limit: 2 });
      const rest = await queue.jobs({ state: 'waiting', limit: 10, offset: 2 });
      expect(first).toHaveLength(2);
      expect(rest).toHaveLength(3);
      expect([...first, ...rest].map((j) => j.id).sort()).toEqual([...ids].sort());
      expect(first.every((j) => j.state === 'waiting')).toBe(true);
      expect(await queue.jobs({ state: 'failed' })).toEqual([]);
    });

    it('refuses list options it cannot honour, naming them', async () => {
      const queue = await fresh();
      await expect(queue.jobs({ state: 'lost' as never })).rejects.toThrow(
        'JobQueue.jobs() state must be one of waiting, delayed, active, completed, failed, paused; received "lost"',
      );
      await expect(queue.jobs({ state: 'waiting', limit: 5000 })).rejects.toThrow(
        'JobQueue.jobs() limit must be at most 1000; received 5000',
      );
      await expect(queue.jobs({ state: 'waiting', offset: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(queue.jobs(undefined as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    });
  });

  describe('result', () => {
    it("resolves with the handler's return value, also for a job that finished before the wait", async () => {
      const queue = await fresh();
      await queue.process((job) => ({ doubled: (job.data as number) * 2 }));
      const id = await queue.add('double', 21);
      expect(await queue.result(id, { timeoutMs: 10_000 })).toEqual({ doubled: 42 });
      // Finished already: read from the job, not from an event.
      expect(await queue.result(id, { timeoutMs: 10_000 })).toEqual({ doubled: 42 });
    });

    it("rejects with JobFailedError carrying the cause's code and message once attempts are used up", async () => {
      const queue = await fresh();
      await queue.process(() => {
        throw new Coded('declined');
      });
      const id = await queue.add('charge', null, { attempts: 2 });
      const error = await queue.result(id, { timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JobFailedError);
      expect(error).toMatchObject({ code: 'KEEL_JOB_FAILED', causeCode: 'E_CARD_DECLINED', jobId: id });
      expect((error as Error).message).toContain('failed: declined');
    });

    it('rejects with JobNotFoundError for an unknown id, and JobWaitTimeoutError past timeoutMs', async () => {
      const queue = await fresh();
      await expect(queue.result('nobody', { timeoutMs: 1000 })).rejects.toBeInstanceOf(JobNotFoundError);
      const id = await queue.add('n', null);
      const error = await queue.result(id, { timeoutMs: 50 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JobWaitTimeoutError);
      expect(error).toMatchObject({ retryable: true });
      const controller = new AbortController();
      const waiting = queue.result(id, { signal: controller.signal });
      controller.abort(new Error('gave up'));
      await expect(waiting).rejects.toThrow('gave up');
    });
  });

  describe('result at close', () => {
    it('rejects a pending wait with QueueClosedError when the queue closes', async () => {
      const queue = await fresh();
      const id = await queue.add('n', null);
      const waiting = queue.result(id, { timeoutMs: 60_000 }).catch((e: unknown) => e);
      await sleep(50);
      await queue.close();
      expect(await waiting).toMatchObject({ code: 'KEEL_JOB_QUEUE_CLOSED' });
      await expect(queue.result(id)).rejects.toMatchObject({ code: 'KEEL_JOB_QUEUE_CLOSED' });
    });
  });

  describe('remove and cancel', () => {
    it('removes a job that is not running, and refuses one that is', async () => {
      const queue = await fresh();
      const waiting = await queue.add('n', 1);
      expect(await queue.remove(waiting)).toBe(true);
      expect(await queue.getJob(waiting)).toBeUndefined();
      expect(await queue.remove(waiting)).toBe(false);
      expect(await queue.counts()).toMatchObject({ waiting: 0 });
      const { promise: hold, resolve: release } = Promise.withResolvers<void>();
      const started = next(queue, 'progress');
      const done = next(queue, 'completed');
      const ran: unknown[] = [];
      await queue.process(async (job) => {
        ran.push(job.data);
        await job.progress(1);
        await hold;
      });
      const running = await queue.add('n', 2);
      await started;
      await expect(queue.remove(running)).rejects.toBeInstanceOf(JobActiveError);
      release();
      await done;
      expect(ran).toEqual([2]);
      expect(await queue.remove(running)).toBe(true);
    });

    it("aborts a running job's signal on cancel; the job fails as cancelled and is not retried", async () => {
      const queue = await fresh();
      const started = next(queue, 'progress');
      let reason: unknown;
      let runs = 0;
      await queue.process(async (job, { signal }) => {
        runs++;
        await job.progress(1);
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            reject(signal.reason);
          }),
        );
      });
      const id = await queue.add('long', null, { attempts: 3 });
      await started;
      const failed = next(queue, 'failed');
      expect(await queue.cancel(id)).toBe(true);
      const event = await failed;
      expect(reason).toBeInstanceOf(JobCancelledError);
      expect(event.willRetry).toBe(false);
      expect(event.error).toBeInstanceOf(JobCancelledError);
      const error = await queue.result(id, { timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'KEEL_JOB_FAILED', causeCode: 'KEEL_JOB_CANCELLED' });
      await vi.waitFor(async () =>
        expect((await queue.getJob(id))?.error).toMatchObject({ code: 'KEEL_JOB_CANCELLED' }),
      );
      await sleep(100);
      expect(runs).toBe(1);
    });

    it('runs a job again that comes back under the id of a cancelled one, by add or by retry', async () => {
      const queue = await fresh();
      let runs = 0;
      await queue.process(async (job, { signal }) => {
        runs++;
        if (job.data.wait) {
          await job.progress(1);
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        }
        return 'ran';
      });
      const started = next(queue, 'progress');
      await queue.add('n', { wait: true }, { jobId: 'order-1' });
      await started;
      expect(await queue.cancel('order-1')).toBe(true);
      await expect(queue.result('order-1', { timeoutMs: 10_000 })).rejects.toMatchObject({
        causeCode: 'KEEL_JOB_CANCELLED',
      });
      expect(await queue.remove('order-1')).toBe(true);
      await queue.add('n', { wait: false }, { jobId: 'order-1' });
      expect(await queue.result('order-1', { timeoutMs: 10_000 })).toBe('ran');
      expect(runs).toBe(2);

      const again = next(queue, 'progress');
      await queue.add('n', { wait: true }, { jobId: 'order-2' });
      await again;
      expect(await queue.cancel('order-2')).toBe(true);
      await expect(queue.result('order-2', { timeoutMs: 10_000 })).rejects.toMatchObject({
        causeCode: 'KEEL_JOB_CANCELLED',
      });
      const retried = next(queue, 'progress');
      expect(await queue.retry('order-2')).toBe(true);
      await retried;
      const { promise: ended, resolve } = Promise.withResolvers<unknown>();
      const off = queue.on('failed', ({ job, error }) => job.id === 'order-2' && resolve(error));
      await sleep(300);
      off();
      resolve('still running');
      expect(await ended).toBe('still running');
      expect(runs).toBe(4);
    });

    it('fails a cancelled job whose handler ignores its signal after a short grace, freeing the worker', async () => {
      const queue = await fresh();
      const started = next(queue, 'progress');
      const { promise: never, resolve: free } = Promise.withResolvers<void>();
      await queue.process(async (job) => {
        if (job.name === 'stubborn') {
          await job.progress(1);
          await never;
        }
        return 'next ran';
      });
      const id = await queue.add('stubborn', null);
      await started;
      expect(await queue.cancel(id)).toBe(true);
      await expect(queue.result(id, { timeoutMs: 10_000 })).rejects.toMatchObject({
        causeCode: 'KEEL_JOB_CANCELLED',
      });
      const after = await queue.add('quick', null);
      expect(await queue.result(after, { timeoutMs: 10_000 })).toBe('next ran');
      free();
    });

    it('cancels a waiting job by removing it, and answers false for unknown or finished jobs', async () => {
      const queue = await fresh();
      const id = await queue.add('n', null);
      expect(await queue.cancel(id)).toBe(true);
      expect(await queue.getJob(id)).toBeUndefined();
      expect(await queue.cancel('nobody')).toBe(false);
      await queue.process(() => 'ok');
      const done = await queue.add('n', null);
      await queue.result(done, { timeoutMs: 10_000 });
      expect(await queue.cancel(done)).toBe(false);
      expect((await queue.getJob(done))?.state).toBe('completed');
    });
  });

  describe('pause', () => {
    it('holds every worker while the queue is paused, and releases them on resume', async () => {
      const queue = await fresh();
      const ran: number[] = [];
      await queue.process((job) => {
        ran.push(job.data);
      });
      await queue.process((job) => {
        ran.push(job.data);
      });
      await queue.pause();
      const ids = await queue.addBulk([1, 2, 3].map((n) => ({ name: 'n', data: n })));
      await sleep(300);
      expect(ran).toEqual([]);
      expect((await queue.getJob(ids[0] as string))?.state).toBe('paused');
      expect(await queue.jobs({ state: 'paused' })).toHaveLength(3);
      await queue.resume();
      await vi.waitFor(() => expect(ran.sort()).toEqual([1, 2, 3]), { timeout: 10_000 });
    });

    it('pauses one worker while another takes the jobs', async () => {
      const queue = await fresh();
      const byA: number[] = [];
      const byB: number[] = [];
      const a = await queue.process((job) => {
        byA.push(job.data);
      });
      await a.pause();
      await queue.process((job) => {
        byB.push(job.data);
      });
      for (let i = 0; i < 3; i++) await queue.add('n', i);
      await vi.waitFor(() => expect(byB).toHaveLength(3), { timeout: 10_000 });
      expect(byA).toEqual([]);
      await a.resume();
      await queue.add('n', 9);
      await vi.waitFor(() => expect(byA.length + byB.length).toBe(4), { timeout: 10_000 });
    });
  });

  describe('addBulk', () => {
    it('adds every job and resolves to their ids in order', async () => {
      const queue = await fresh();
      const ids = await queue.addBulk([
        { name: 'a', data: 1 },
        { name: 'b', data: 2, options: { jobId: 'bulk-b', priority: 3 } },
        { name: 'c', data: 3, options: { delay: 60_000 } },
      ]);
      expect(ids).toHaveLength(3);
      expect(ids[1]).toBe('bulk-b');
      expect(await queue.getJob(ids[0] as string)).toMatchObject({ name: 'a', data: 1, state: 'waiting' });
      expect((await queue.getJob(ids[2] as string))?.state).toBe('delayed');
      expect(await queue.counts()).toMatchObject({ waiting: 2, delayed: 1 });
      expect(await queue.addBulk([])).toEqual([]);
    });

    it('adds nothing when one entry is bad, and names its index', async () => {
      const queue = await fresh({ schema: Email });
      await expect(
        queue.addBulk([
          { name: 'a', data: { to: 'x@example.com' } },
          { name: 'b', data: { to: 42 } },
        ]),
      ).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof InvalidJobDataError && e.message.startsWith('JobQueue.addBulk() jobs[1]: Job "b"'),
      );
      await expect(
        queue.addBulk([
          { name: 'a', data: { to: 'x@example.com' } },
          { name: 'a', data: { to: 'y@example.com' }, options: { attempts: 0 } },
        ]),
      ).rejects.toThrow(/^JobQueue\.addBulk\(\) jobs\[1\]: JobQueue\.add\(\) attempts must be/);
      await expect(queue.addBulk([{ name: '', data: { to: 'a' } }])).rejects.toThrow(
        /^JobQueue\.addBulk\(\) jobs\[0\]: /,
      );
      await expect(queue.addBulk('nope' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(await queue.counts()).toMatchObject({ waiting: 0, delayed: 0 });
    });

    it('checks every entry when entries share one options object, and gives each job those options', async () => {
      const queue = await fresh();
      const shared = { attempts: 3, priority: 2 };
      const entries = Array.from({ length: 50 }, (_, i) => ({
        name: 'n',
        data: i as unknown,
        options: shared,
      }));
      const bad: [number, { name: string; data: unknown; options?: object }, RegExp][] = [
        [
          37,
          { name: 'n', data: 1, options: { ...shared, attempts: 0 } },
          /^JobQueue\.addBulk\(\) jobs\[37\]: .*attempts/,
        ],
        [49, { name: 'n', data: 1n, options: shared }, /^JobQueue\.addBulk\(\) jobs\[49\]: data of job "n"/],
        [12, { name: '', data: 1, options: shared }, /^JobQueue\.addBulk\(\) jobs\[12\]: .*job name/],
        [
          20,
          { name: 'n', data: 1, options: { signal: AbortSignal.abort() } },
          /^JobQueue\.addBulk\(\) jobs\[20\]: .*signal/,
        ],
        [
          30,
          { name: 'n', data: 1, options: { ...shared, jobid: 'x' } },
          /^JobQueue\.addBulk\(\) jobs\[30\]: .*unknown/,
        ],
      ];
      for (const [at, entry, message] of bad) {
        const batch = [...entries];
        batch[at] = entry as (typeof entries)[number];
        await expect(queue.addBulk(batch), `jobs[${at}]`).rejects.toThrow(message);
      }
      expect(await queue.counts()).toMatchObject({ waiting: 0, delayed: 0 });
      const ids = await queue.addBulk(entries);
      expect(ids).toHaveLength(50);
      expect(await queue.getJob(ids[49] as string)).toMatchObject({ data: 49, attempts: 3 });
      // A check holds for one call: the same object changed since is checked again.
      shared.attempts = 0;
      await expect(queue.addBulk(entries)).rejects.toThrow(/^JobQueue\.addBulk\(\) jobs\[0\]: .*attempts/);
      expect(await queue.counts()).toMatchObject({ waiting: 50 });
    });
  });

  describe('failed jobs', () => {
    it('keeps failed jobs for the dead-letter view and requeues them with retry and retryFailed', async () => {
      const queue = await fresh();
      let healthy = false;
      await queue.process((job) => {
        if (!healthy) throw new Error(`down ${job.data}`);
        return job.data;
      });
      const ids = await queue.addBulk([1, 2, 3].map((n) => ({ name: 'n', data: n })));
      await vi.waitFor(async () => expect((await queue.counts()).failed).toBe(3), { timeout: 10_000 });
      const dead = await queue.jobs({ state: 'failed' });
      expect(dead.map((j) => j.id).sort()).toEqual([...ids].sort());
      expect(dead[0]?.error?.message).toMatch(/^down \d$/);
      healthy = true;
      expect(await queue.retry(ids[0] as string)).toBe(true);
      expect(await queue.result(ids[0] as string, { timeoutMs: 10_000 })).toBe(1);
      expect(await queue.retry(ids[0] as string)).toBe(false);
      expect(await queue.retry('nobody')).toBe(false);
      expect(await queue.retryFailed({ limit: 1 })).toBe(1);
      expect(await queue.retryFailed()).toBe(1);
      await vi.waitFor(async () => expect((await queue.counts()).completed).toBe(3), { timeout: 10_000 });
      expect(await queue.jobs({ state: 'failed' })).toEqual([]);
      await expect(queue.retryFailed({ limit: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    });

    it('keeps at most keepFailed failed jobs', async () => {
      const queue = await fresh({ keepFailed: 2 });
      await queue.process(() => {
        throw new Error('no');
      });
      const ids = await queue.addBulk([1, 2, 3].map((n) => ({ name: 'n', data: n })));
      await queue.result(ids[2] as string, { timeoutMs: 10_000 }).catch(() => {});
      await vi.waitFor(async () => expect((await queue.counts()).failed).toBe(2), { timeout: 10_000 });
      expect(await queue.jobs({ state: 'failed' })).toHaveLength(2);
    });
  });

  describe('rate limit', () => {
    it('starts at most max jobs per window across all workers', async () => {
      const queue = await fresh({ limit: { max: 2, durationMs: 2000 } });
      const starts: number[] = [];
      for (let w = 0; w < 2; w++) {
        await queue.process(
          () => {
            starts.push(Date.now());
          },
          { concurrency: 3 },
        );
      }
      await queue.addBulk(Array.from({ length: 4 }, (_, i) => ({ name: 'n', data: i })));
      await vi.waitFor(() => expect(starts).toHaveLength(2), { timeout: 10_000 });
      await sleep(300);
      // The window is not over yet: nobody took a third job.
      expect(starts).toHaveLength(2);
      await vi.waitFor(() => expect(starts).toHaveLength(4), { timeout: 10_000 });
    });

    it('refuses a limit without max or durationMs, or with bad values', async () => {
      await expect(fresh({ limit: { max: 2 } as never })).rejects.toThrow(
        'openQueue() limit needs both max and durationMs; received no durationMs',
      );
      await expect(fresh({ limit: { max: 0, durationMs: 1000 } })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
      await expect(fresh({ limit: { max: 1, durationMs: 2 ** 31 } })).rejects.toThrow(
        /openQueue\(\) limit.durationMs must be at most/,
      );
    });
  });
}
