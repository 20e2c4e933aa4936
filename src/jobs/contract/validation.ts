/** JobQueue contract: the schema of job data and the checks on arguments. */
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS } from '../../abort.ts';
import { InvalidArgumentError, KeelError } from '../../errors.ts';
import { InvalidJobDataError } from '../errors.ts';
import { MAX_DELAY_MS } from '../options.ts';
import { completions, Email, type Fresh, type OpenForTest } from './helpers.ts';

export function validation(fresh: Fresh, open: OpenForTest): void {
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

  describe('data travels as JSON', () => {
    it('hands the handler a JSON copy: Dates as strings, undefined as null or left out', async () => {
      const queue = await fresh();
      const seen: unknown[] = [];
      const done = completions(queue, 4);
      await queue.process((job) => {
        seen.push(job.data);
      });
      const data = { at: new Date(0), skip: undefined, list: [1, undefined] };
      await queue.add('n', data);
      data.list.push(2);
      await queue.add('n', undefined);
      await queue.add('n', 'text');
      await queue.add('n', 0);
      await done;
      expect(seen).toHaveLength(4);
      expect(seen).toContainEqual({ at: '1970-01-01T00:00:00.000Z', list: [1, null] });
      expect(seen).toContain(null);
      expect(seen).toContain('text');
      expect(seen).toContain(0);
    });

    it('rejects data that JSON cannot carry, and adds nothing', async () => {
      const queue = await fresh();
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      await expect(queue.add('n', { big: 1n })).rejects.toThrow(
        /^data of job "n" must be JSON-serializable: .*BigInt/,
      );
      await expect(queue.add('n', circular)).rejects.toThrow(/must be JSON-serializable: .*circular/);
      await expect(queue.add('n', () => {})).rejects.toThrow(
        'data of job "n" must be JSON-serializable; received function (anonymous)',
      );
      await expect(queue.add('n', { big: 1n })).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(await queue.counts()).toMatchObject({ waiting: 0 });
    });
  });

  describe('bad arguments', () => {
    it.each([
      [{ attempts: 0 }, 'JobQueue.add() attempts must be an integer ≥ 1; received 0'],
      [{ attempts: 1.5 }, 'JobQueue.add() attempts must be an integer ≥ 1; received 1.5'],
      [{ delay: -1 }, 'JobQueue.add() delay must be a number of milliseconds ≥ 0; received -1'],
      [
        { delay: Number.POSITIVE_INFINITY },
        'JobQueue.add() delay must be a number of milliseconds ≥ 0; received Infinity',
      ],
      [{ delay: MAX_DELAY_MS + 1 }, `JobQueue.add() delay must be at most ${MAX_DELAY_MS} ms`],
      [
        { backoff: { type: 'fixed', delayMs: 1e15 } },
        `JobQueue.add() backoff.delayMs must be at most ${MAX_DELAY_MS} ms`,
      ],
      [
        { backoff: { type: 'fixed', delay: 5 } },
        'JobQueue.add() backoff: unknown option "delay"; known options: type, delayMs',
      ],
      [{ priority: 0 }, 'JobQueue.add() priority must be an integer from 1 to 2097152; received 0'],
      [
        { priority: 2 ** 21 + 1 },
        'JobQueue.add() priority must be an integer from 1 to 2097152; received 2097153',
      ],
      [
        { jobId: '12' },
        'JobQueue.add() jobId must be a non-empty string that is not an integer (nor "NaN") and has no ":"',
      ],
      [{ jobId: 'NaN' }, 'received "NaN"'],
      [{ jobId: '-3' }, 'received "-3"'],
      [{ jobId: '' }, 'received ""'],
      [{ jobId: 7 }, 'received 7'],
      [{ jobId: 'a:b' }, 'received "a:b"'],
      [{ backoff: { type: 'linear', delayMs: 5 } }, 'with type "linear"'],
      [{ backoff: -5 }, 'JobQueue.add() backoff must be a number of milliseconds ≥ 0; received -5'],
      [
        { atempts: 3 },
        'JobQueue.add() options: unknown option "atempts"; known options: attempts, backoff, delay, priority, jobId, signal',
      ],
    ])('add rejects %j', async (options, message) => {
      const queue = await fresh();
      const error = await queue.add('n', null, options as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toContain(message);
    });

    it('rejects a bad job name, handler or concurrency', async () => {
      const queue = await fresh();
      await expect(queue.add('', null)).rejects.toThrow(
        'JobQueue.add() job name must be a non-empty string; received ""',
      );
      await expect(queue.process('nope' as never)).rejects.toThrow(
        'JobQueue.process() handler must be a function; received "nope"',
      );
      await expect(queue.process(() => {}, { concurrency: 0 })).rejects.toThrow(
        'JobQueue.process() concurrency must be an integer ≥ 1; received 0',
      );
      await expect(queue.close({ timeoutMs: -1 })).rejects.toThrow(InvalidArgumentError);
    });

    it('names the call and the known options when an options object has an unknown key', async () => {
      const queue = await fresh();
      const worker = await queue.process(() => {});
      const cases: [string, () => Promise<unknown>][] = [
        [
          'JobQueue.process() options: unknown option "concurency"; known options: concurrency, signal',
          () => queue.process(() => {}, { concurency: 2 } as never),
        ],
        [
          'JobQueue.counts() options: unknown option "timeout"; known options: timeoutMs, signal',
          () => queue.counts({ timeout: 5 } as never),
        ],
        [
          'JobQueue.close() options: unknown option "timeout"; known options: timeoutMs, signal',
          () => queue.close({ timeout: 5 } as never),
        ],
        [
          'JobWorker.close() options: unknown option "timeout"; known options: timeoutMs, signal',
          () => worker.close({ timeout: 5 } as never),
        ],
        ['JobQueue.counts() options must be an options object; received 5', () => queue.counts(5 as never)],
        [
          'JobQueue.close() options must be an options object; received null',
          () => queue.close(null as never),
        ],
      ];
      for (const [message, call] of cases) {
        const error = await call().catch((e: unknown) => e);
        expect(error, message).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message).toBe(message);
      }
    });

    it('refuses an addBulk entry with an unknown key, naming its index, the key and the known keys', async () => {
      const queue = await fresh();
      const cases: [string, unknown][] = [
        [
          'JobQueue.addBulk() jobs[1]: unknown key "jobId"; known keys: name, data, options',
          { name: 'n', data: 1, jobId: 'x' },
        ],
        [
          'JobQueue.addBulk() jobs[1]: unknown key "option"; known keys: name, data, options',
          { name: 'n', data: 1, option: { delayMs: 5 } },
        ],
      ];
      for (const [message, entry] of cases) {
        const error = await queue.addBulk([{ name: 'n', data: 0 }, entry as never]).catch((e: unknown) => e);
        expect(error, message).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message).toBe(message);
      }
      expect(await queue.counts()).toMatchObject({ waiting: 0 });
    });

    it('refuses to listen for an event it never emits, naming the known events', async () => {
      const queue = await fresh();
      const worker = await queue.process(() => {});
      expect(() => queue.on('complete' as never, () => {})).toThrow(
        new InvalidArgumentError(
          'JobQueue.on() event: unknown event "complete"; known events: completed, failed, progress, error',
        ),
      );
      expect(() => worker.on('nope' as never, () => {})).toThrow(
        new InvalidArgumentError(
          'JobWorker.on() event: unknown event "nope"; known events: completed, failed, progress, error',
        ),
      );
      expect(() => queue.on(42 as never, () => {})).toThrow(InvalidArgumentError);
    });

    it('checks every millisecond option: refuses what a timer cannot hold, by name', async () => {
      const queue = await fresh();
      await expect(queue.counts({ timeoutMs: 0 })).rejects.toThrow(
        'JobQueue.counts() timeoutMs must be a number of milliseconds ≥ 1; received 0',
      );
      await expect(queue.close({ timeoutMs: Number.NaN })).rejects.toThrow(
        'JobQueue.close() timeoutMs must be a number of milliseconds ≥ 0 or Infinity; received NaN',
      );
      // BullMQ hands these two to platform timers, so past 2^31-1 ms they are refused rather than wrapped.
      await expect(open({ lockDurationMs: MAX_TIMER_MS + 1 })).rejects.toThrow(
        `openQueue() lockDurationMs must be at most ${MAX_TIMER_MS} ms; received ${MAX_TIMER_MS + 1}`,
      );
      await expect(open({ stalledIntervalMs: 2 ** 32 })).rejects.toThrow(
        `openQueue() stalledIntervalMs must be at most ${MAX_TIMER_MS} ms`,
      );
      await expect(open({ connectTimeoutMs: Number.POSITIVE_INFINITY })).rejects.toThrow(
        'openQueue() connectTimeoutMs must be a number of milliseconds ≥ 1; received Infinity',
      );
      await expect(open({ commandTimeoutMs: 0 })).rejects.toThrow(
        'openQueue() commandTimeoutMs must be a number of milliseconds ≥ 1; received 0',
      );
    });

    it('takes millisecond options longer than a platform timer holds, and waits them out', async () => {
      const month = 30 * 24 * 3600 * 1000;
      const queue = await fresh({ connectTimeoutMs: month, commandTimeoutMs: month });
      let ran = 0;
      await queue.process(() => {
        ran++;
      });
      await queue.add('later', null, { delay: month, backoff: { type: 'exponential', delayMs: month } });
      await queue.add('much-later', null, { delay: MAX_DELAY_MS });
      expect(await queue.counts({ timeoutMs: month })).toMatchObject({ delayed: 2, waiting: 0, active: 0 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(ran).toBe(0);
      expect(await queue.counts()).toMatchObject({ delayed: 2, completed: 0 });
      await queue.close({ timeoutMs: month });
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
        'openQueue() keepFailed must be an integer ≥ 0; received -1',
      );
      await expect(open({ lockDurationMs: 10 })).rejects.toThrow(
        'openQueue() lockDurationMs must be an integer ≥ 1000; received 10',
      );
      await expect(open({ shema: {} } as never)).rejects.toThrow(
        'openQueue() options: unknown option "shema"; known options: schema, keepCompleted, keepFailed, ',
      );
      await expect(open({ schema: {} as never })).rejects.toThrow(
        'openQueue() schema must be a Standard Schema',
      );
      const reason = new Error('not now');
      await expect(open({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    });
  });
}
