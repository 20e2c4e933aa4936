/** JobQueue contract: the schema of job data and the checks on arguments. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, KeelError } from '../../errors.ts';
import { InvalidJobDataError } from '../errors.ts';
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
}
