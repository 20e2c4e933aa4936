/**
 * The one test suite every JobQueue implementation must pass: `runJobQueueContract('memory', open)`, where
 * `open(options)` returns a fresh, empty queue (a unique name per call) and the caller cleans up after it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, KeelError } from '../errors.ts';
import type { StandardSchemaV1 } from '../standard-schema.ts';
import { InvalidJobDataError, JobAbortedError, QueueClosedError } from './errors.ts';
import type { Job, JobEvents, JobQueue, OpenQueueOptions } from './types.ts';

export type OpenForTest = (options?: OpenQueueOptions) => Promise<JobQueue<any, any>>;

/** Resolves with the first `event` payload that matches `match`. */
function next<E extends keyof JobEvents>(
  queue: JobQueue<any, any>,
  event: E,
  match: (payload: JobEvents[E]) => boolean = () => true,
): Promise<JobEvents[E]> {
  return new Promise((resolve) => {
    const off = queue.on(event, (payload) => {
      if (!match(payload)) return;
      off();
      resolve(payload);
    });
  });
}

/** Resolves once `count` jobs have completed, with their ids in completion order. */
function completions(queue: JobQueue<any, any>, count: number): Promise<string[]> {
  const ids: string[] = [];
  return new Promise((resolve) => {
    const off = queue.on('completed', ({ job }) => {
      ids.push(job.id);
      if (ids.length === count) {
        off();
        resolve(ids);
      }
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A Standard Schema written out by hand: `{ to: string, tries?: number }`, filling `tries` with 0. */
const Email: StandardSchemaV1<{ to: string; tries?: number }, { to: string; tries: number }> = {
  '~standard': {
    version: 1,
    vendor: 'contract-test',
    validate(value) {
      const v = value as { to?: unknown; tries?: unknown } | null;
      if (typeof v !== 'object' || v === null || typeof v.to !== 'string') {
        return { issues: [{ message: 'expected a string', path: ['to'] }] };
      }
      return { value: { to: v.to, tries: typeof v.tries === 'number' ? v.tries : 0 } };
    },
  },
};

export function runJobQueueContract(label: string, open: OpenForTest): void {
  describe(`JobQueue contract: ${label}`, { timeout: 20_000 }, () => {
    const opened: JobQueue<any, any>[] = [];
    const fresh = async (options?: OpenQueueOptions) => {
      const queue = await open(options);
      opened.push(queue);
      return queue;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((q) => q.close({ timeoutMs: 0 })));
    });

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

    describe('schema', () => {
      it('rejects data that fails the schema at add, naming the path, and adds nothing', async () => {
        const queue = await fresh({ schema: Email });
        const error = await queue.add('welcome', { to: 42 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidJobDataError);
        expect(error).toBeInstanceOf(KeelError);
        expect((error as InvalidJobDataError).code).toBe('KEEL_JOB_INVALID_DATA');
        expect((error as Error).message).toContain('to: expected a string');
        expect((error as Error).message).toContain('"welcome"');
        expect(await queue.counts()).toMatchObject({ waiting: 0, delayed: 0 });
      });

      it('hands the handler the schema output, and a bad job leaves the others in flight alone', async () => {
        const queue = await fresh({ schema: Email });
        const seen: unknown[] = [];
        const done = completions(queue, 5);
        await queue.process((job) => {
          seen.push(job.data);
        });
        const results = await Promise.allSettled([
          queue.add('e', { to: 'a' }),
          queue.add('e', { to: 'b', tries: 2 }),
          queue.add('e', { nope: true }),
          queue.add('e', { to: 'c' }),
          queue.add('e', { to: 'd' }),
          queue.add('e', { to: 'e' }),
        ]);
        expect(results.map((r) => r.status)).toEqual([
          'fulfilled',
          'fulfilled',
          'rejected',
          'fulfilled',
          'fulfilled',
          'fulfilled',
        ]);
        await done;
        expect(seen).toHaveLength(5);
        expect(seen).toContainEqual({ to: 'a', tries: 0 });
        expect(seen).toContainEqual({ to: 'b', tries: 2 });
      });
    });

    describe('bad arguments', () => {
      it.each([
        [{ attempts: 0 }, 'add attempts must be an integer ≥ 1; received 0'],
        [{ attempts: 1.5 }, 'add attempts must be an integer ≥ 1; received 1.5'],
        [{ delay: -1 }, 'add delay must be an integer ≥ 0; received -1'],
        [{ priority: 0 }, 'add priority must be an integer from 1 to 2097152; received 0'],
        [{ priority: 2 ** 21 + 1 }, 'add priority must be an integer from 1 to 2097152; received 2097153'],
        [{ jobId: '12' }, 'add jobId must be a non-empty string that is not an integer and has no ":"'],
        [{ jobId: 'a:b' }, 'received "a:b"'],
        [{ backoff: { type: 'linear', delayMs: 5 } }, 'with type "linear"'],
        [{ backoff: -5 }, 'add backoff must be an integer ≥ 0; received -5'],
        [{ atempts: 3 }, 'unknown option "atempts"'],
      ])('add rejects %j', async (options, message) => {
        const queue = await fresh();
        const error = await queue.add('n', null, options as never).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message).toContain(message);
      });

      it('rejects a bad job name, handler or concurrency', async () => {
        const queue = await fresh();
        await expect(queue.add('', null)).rejects.toThrow('job name must be a non-empty string; received ""');
        await expect(queue.process('nope' as never)).rejects.toThrow(
          'process handler must be a function; received "nope"',
        );
        await expect(queue.process(() => {}, { concurrency: 0 })).rejects.toThrow(
          'process concurrency must be an integer ≥ 1; received 0',
        );
        await expect(queue.close({ timeoutMs: -1 })).rejects.toThrow(InvalidArgumentError);
      });

      it('rejects with the reason of an aborted signal', async () => {
        const queue = await fresh();
        const reason = new Error('stop');
        await expect(queue.add('n', null, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
        await expect(queue.process(() => {}, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
        await expect(queue.counts({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      });

      it('refuses bad open options and an aborted open', async () => {
        await expect(open({ keepFailed: -1 })).rejects.toThrow(
          'openQueue keepFailed must be an integer ≥ 0; received -1',
        );
        await expect(open({ lockDurationMs: 10 })).rejects.toThrow(
          'openQueue lockDurationMs must be an integer ≥ 1000; received 10',
        );
        await expect(open({ shema: {} } as never)).rejects.toThrow('unknown option "shema"');
        await expect(open({ schema: {} as never })).rejects.toThrow(
          'openQueue schema must be a Standard Schema',
        );
        const reason = new Error('not now');
        await expect(open({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      });
    });

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
  });
}
