/** JobQueue contract: schedules (every, cron), upsert, unschedule, listing, and the arguments refused. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.ts';
import { InvalidJobDataError, QueueClosedError } from '../errors.ts';
import type { JobEvents } from '../types.ts';
import { Email, type Fresh, type OpenForTest, sleep } from './helpers.ts';

/**
 * Collects completed jobs (id, name, data, time); `done` resolves once `count` have come, and rejects
 * after 12 s with what was seen and the queue's state, so a schedule that stops says where it stopped.
 */
function collect(
  queue: Awaited<ReturnType<Fresh>>,
  count: number,
): { done: Promise<void>; seen: { id: string; name: string; data: unknown; at: number }[] } {
  const seen: { id: string; name: string; data: unknown; at: number }[] = [];
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const timer = setTimeout(async () => {
    const state = await Promise.all([queue.counts(), queue.schedules()]).catch((e: unknown) => e);
    reject(
      new Error(`${seen.length} of ${count} jobs completed in 12 s: ${JSON.stringify({ seen, state })}`),
    );
  }, 12_000);
  queue.on('completed', ({ job, result }) => {
    seen.push({ id: job.id, name: job.name, data: result, at: Date.now() });
    if (seen.length === count) {
      clearTimeout(timer);
      resolve();
    }
  });
  return { done: promise, seen };
}

const refusal = async (promise: Promise<unknown>): Promise<Error> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidArgumentError);
  return error as Error;
};

export function schedules(fresh: Fresh, _open: OpenForTest): void {
  describe('schedules', () => {
    it('adds a job at once and then every `every` ms, with the scheduled name and data', async () => {
      const queue = await fresh();
      const { done, seen } = collect(queue, 3);
      await queue.process((job) => job.data);
      const scheduledAt = Date.now();
      await queue.schedule('heartbeat', { every: 250 }, 'beat', { n: 1 });
      await done;
      await queue.unschedule('heartbeat');
      expect(seen.map((s) => [s.name, s.data])).toEqual([
        ['beat', { n: 1 }],
        ['beat', { n: 1 }],
        ['beat', { n: 1 }],
      ]);
      // A run never comes early. Measured from the call, not between observations: a completion is seen
      // some time after its run, and that delay varies, so the gap between two sightings can be shorter
      // than `every` although neither run was early. BullMQ aligns runs after the first to multiples of
      // `every`, so the second may come at any point of the first interval, the third not before its end.
      expect(seen[2]!.at - scheduledAt).toBeGreaterThanOrEqual(250);
    });

    it('stops adding jobs once unscheduled, and says whether a schedule was removed', async () => {
      const queue = await fresh();
      const { done, seen } = collect(queue, 1);
      await queue.process(() => 'ran');
      await queue.schedule('short', { every: 200 }, 'tick', null);
      await done;
      expect(await queue.unschedule('short')).toBe(true);
      expect(await queue.unschedule('short')).toBe(false);
      expect(await queue.unschedule('never-scheduled')).toBe(false);
      // A job added just before the unschedule (on a slow machine) may still finish meanwhile.
      await sleep(500);
      const after = seen.length;
      await sleep(700);
      expect(seen.length).toBe(after);
      expect(await queue.schedules()).toEqual([]);
      expect(await queue.counts()).toMatchObject({ waiting: 0, delayed: 0 });
    });

    it('replaces a schedule scheduled again under the same id', async () => {
      const queue = await fresh();
      await queue.schedule('report', { every: 60_000 }, 'old', { v: 1 });
      await queue.schedule('report', { every: 200 }, 'new', { v: 2 });
      const listed = await queue.schedules();
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ id: 'report', rhythm: { every: 200 }, name: 'new' });
      const { done, seen } = collect(queue, 3);
      await queue.process((job) => job.data);
      await done;
      await queue.unschedule('report');
      // The old schedule's first job may have been added already; from then on only the new one adds.
      expect(seen.slice(1).map((s) => [s.name, s.data])).toEqual([
        ['new', { v: 2 }],
        ['new', { v: 2 }],
      ]);
    });

    it('lists schedules with their id, rhythm, job name and next run, soonest first', async () => {
      const queue = await fresh();
      const before = Date.now();
      await queue.schedule('nightly', { cron: '0 3 * * *', tz: 'Europe/Paris' }, 'cleanup', null);
      await queue.schedule('often', { cron: '*/5 * * * *' }, 'poll', null);
      const listed = await queue.schedules();
      expect(listed.map((s) => ({ id: s.id, rhythm: s.rhythm, name: s.name }))).toEqual([
        { id: 'often', rhythm: { cron: '*/5 * * * *' }, name: 'poll' },
        { id: 'nightly', rhythm: { cron: '0 3 * * *', tz: 'Europe/Paris' }, name: 'cleanup' },
      ]);
      const [often, nightly] = listed.map((s) => s.next?.getTime() ?? Number.NaN);
      expect(often).toBeGreaterThan(before);
      expect(often).toBeLessThanOrEqual(before + 5 * 60_000);
      expect(often! % (5 * 60_000)).toBe(0);
      expect(nightly).toBeGreaterThan(before);
      expect(nightly).toBeLessThanOrEqual(before + 86_400_000);
      // 03:00 in Paris is 01:00 or 02:00 UTC, depending on summer time.
      expect([1, 2]).toContain(new Date(nightly!).getUTCHours());
    });

    it('runs a six-field cron expression every second', async () => {
      const queue = await fresh();
      const { done, seen } = collect(queue, 2);
      await queue.process(() => 'tick');
      await queue.schedule('per-second', { cron: '* * * * * *' }, 'tick', null);
      await done;
      await queue.unschedule('per-second');
      expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(500);
    });

    it('gives the scheduled jobs the options it was given (attempts)', async () => {
      const queue = await fresh();
      const failed: JobEvents['failed'][] = [];
      queue.on('failed', (e) => failed.push(e));
      const { done, seen } = collect(queue, 1);
      await queue.process((job) => {
        if (job.attempt === 1) throw new Error('first try fails');
        return job.attempt;
      });
      await queue.schedule('flaky', { every: 60_000 }, 'flaky', null, { attempts: 2 });
      await done;
      await queue.unschedule('flaky');
      expect(seen[0]!.data).toBe(2);
      expect(failed.map((f) => [f.job.attempts, f.willRetry])).toEqual([[2, true]]);
    });

    it('waits a full `every` past 2^31-1 ms instead of letting a timer wrap', async () => {
      const queue = await fresh();
      const { done, seen } = collect(queue, 1);
      await queue.process(() => 'once');
      const every = 2 ** 31 + 60_000;
      const before = Date.now();
      await queue.schedule('monthly', { every }, 'long', null);
      await done;
      await sleep(500);
      expect(seen).toHaveLength(1);
      const [listed] = await queue.schedules();
      expect(listed?.rhythm).toEqual({ every });
      expect(listed?.next?.getTime()).toBeGreaterThanOrEqual(before + every - 1000);
    });

    it('refuses an invalid cron expression with the parser reason', async () => {
      const queue = await fresh();
      const error = await refusal(queue.schedule('bad', { cron: '61 * * * *' }, 'x', null));
      expect(error.message).toContain(
        'JobQueue.schedule() cron "61 * * * *" is not a valid cron expression:',
      );
      expect(error.message).toContain('61');
      await refusal(queue.schedule('bad', { cron: 'every day' }, 'x', null));
      await refusal(queue.schedule('bad', { cron: '' }, 'x', null));
      expect(await queue.schedules()).toEqual([]);
    });

    it.each([0, -5, Number.NaN, Number.POSITIVE_INFINITY, '100', 5 * 365.25 * 86_400_000])(
      'refuses every: %s, naming the option',
      async (every) => {
        const queue = await fresh();
        const error = await refusal(queue.schedule('bad', { every: every as number }, 'x', null));
        expect(error.message).toMatch(/^JobQueue\.schedule\(\) every must be/);
      },
    );

    it('refuses an unknown time zone, a rhythm that is neither or both, and unknown keys', async () => {
      const queue = await fresh();
      expect(
        (await refusal(queue.schedule('bad', { cron: '* * * * *', tz: 'Mars/Olympus' }, 'x', null))).message,
      ).toBe(
        'JobQueue.schedule() tz must be an IANA time zone such as "Europe/Paris"; received "Mars/Olympus"',
      );
      for (const rhythm of [{}, { every: 100, cron: '* * * * *' }, null, 100]) {
        expect((await refusal(queue.schedule('bad', rhythm as never, 'x', null))).message).toContain(
          "JobQueue.schedule() rhythm must be { every: ms } or { cron: '*/5 * * * *', tz? }",
        );
      }
      expect(
        (await refusal(queue.schedule('bad', { every: 100, tz: 'UTC' } as never, 'x', null))).message,
      ).toBe('JobQueue.schedule() rhythm: unknown option "tz"; known options: every');
      expect(
        (await refusal(queue.schedule('bad', { every: 100 }, 'x', null, { jobId: 'a' } as never))).message,
      ).toBe(
        'JobQueue.schedule() options: unknown option "jobId"; known options: attempts, backoff, priority, signal',
      );
      await refusal(queue.schedule('bad', { every: 100 }, 'x', null, { attempts: 0 }));
      await refusal(queue.schedule('bad', { every: 100 }, '', null));
      expect(await queue.schedules()).toEqual([]);
    });

    it.each(['', 'a:b', 'with space', 'x'.repeat(101), 42])('refuses the schedule id %j', async (id) => {
      const queue = await fresh();
      const message = 'id must be 1 to 100 characters from A-Z a-z 0-9 . _ -; received';
      expect((await refusal(queue.schedule(id as string, { every: 100 }, 'x', null))).message).toContain(
        `JobQueue.schedule() ${message}`,
      );
      expect((await refusal(queue.unschedule(id as string))).message).toContain(
        `JobQueue.unschedule() ${message}`,
      );
    });

    it('refuses data the schema refuses, and data JSON cannot carry, when scheduling', async () => {
      const queue = await fresh({ schema: Email });
      const error = await queue
        .schedule('mail', { every: 100 }, 'welcome', { to: 7 } as never)
        .catch((e) => e);
      expect(error).toBeInstanceOf(InvalidJobDataError);
      const plain = await fresh();
      await refusal(plain.schedule('big', { every: 100 }, 'x', { n: 1n }));
      expect(await queue.schedules()).toEqual([]);
      expect(await plain.schedules()).toEqual([]);
    });

    it('refuses schedule calls on a closed queue, and rejects with an aborted signal', async () => {
      const queue = await fresh();
      const aborted = AbortSignal.abort(new Error('stop'));
      await expect(queue.schedule('x', { every: 100 }, 'x', null, { signal: aborted })).rejects.toThrow(
        'stop',
      );
      await queue.close();
      await expect(queue.schedule('x', { every: 100 }, 'x', null)).rejects.toBeInstanceOf(QueueClosedError);
      await expect(queue.unschedule('x')).rejects.toBeInstanceOf(QueueClosedError);
      await expect(queue.schedules()).rejects.toBeInstanceOf(QueueClosedError);
    });
  });
}
