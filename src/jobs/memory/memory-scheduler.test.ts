import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS } from '../../abort.ts';
import type { StandardSchemaV1 } from '../../standard-schema.ts';
import { openQueue } from '../open-queue.ts';
import type { JobQueue, OpenQueueOptions } from '../types.ts';

const run = promisify(execFile);
const queues: JobQueue<any, any>[] = [];
const open = async (options?: OpenQueueOptions): Promise<JobQueue<any, any>> => {
  const queue = await openQueue('memory://', 'scheduled', options);
  queues.push(queue);
  return queue;
};

afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close({ timeoutMs: 0 })));
  vi.useRealTimers();
});

/** Records the (fake) time of every job the queue runs. */
async function runTimes(queue: JobQueue<any, any>): Promise<number[]> {
  const at: number[] = [];
  await queue.process(() => {
    at.push(Date.now());
  });
  return at;
}

describe('memory schedules', () => {
  it('adds a cron job at each matching minute, on a fake clock', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1, 0, 0, 30) });
    const queue = await open();
    const at = await runTimes(queue);
    await queue.schedule('five', { cron: '*/5 * * * *' }, 'poll', null);
    await vi.advanceTimersByTimeAsync(15 * 60_000);
    expect(at.map((t) => new Date(t).toISOString())).toEqual([
      '2026-01-01T00:05:00.000Z',
      '2026-01-01T00:10:00.000Z',
      '2026-01-01T00:15:00.000Z',
    ]);
  });

  it('reads a cron expression in its time zone', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1, 0, 0, 0) });
    const queue = await open();
    const at = await runTimes(queue);
    await queue.schedule('morning', { cron: '0 9 * * *', tz: 'Asia/Tokyo' }, 'hello', null);
    await vi.advanceTimersByTimeAsync(86_400_000);
    // 09:00 in Tokyo (UTC+9) is midnight UTC: the next one after the start is a day later.
    expect(at.map((t) => new Date(t).toISOString())).toEqual(['2026-01-02T00:00:00.000Z']);
  });

  it('arms no platform timer past 2^31-1 ms for a longer `every`, and runs again only after it', async () => {
    vi.useFakeTimers({ now: 0 });
    const armed = vi.spyOn(globalThis, 'setTimeout');
    const queue = await open();
    const at = await runTimes(queue);
    const every = 2 ** 31 + 60_000;
    await queue.schedule('long', { every }, 'long', null);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 1000);
    expect(at).toEqual([0]);
    await vi.advanceTimersByTimeAsync(every - MAX_TIMER_MS);
    expect(at).toEqual([0, every]);
    const delays = armed.mock.calls.map((call) => call[1] ?? 0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
  });

  it('skips the runs missed while the process slept instead of adding them in a burst', async () => {
    vi.useFakeTimers({ now: 0 });
    const queue = await open();
    const at = await runTimes(queue);
    await queue.schedule('beat', { every: 1000 }, 'beat', null);
    await vi.advanceTimersByTimeAsync(10);
    // The clock jumps 10.5 s ahead while the run due at 1000 waits, as when a laptop sleeps.
    vi.setSystemTime(10_500);
    await vi.advanceTimersByTimeAsync(990);
    expect(at).toEqual([0, 11_490]);
    // The runs due from 2000 to 11000 are gone; the rhythm goes on from the next one.
    await vi.advanceTimersByTimeAsync(510);
    expect(at).toEqual([0, 11_490, 12_000]);
  });

  it('keeps the rhythm when the same schedule is scheduled again (as every process does at start)', async () => {
    vi.useFakeTimers({ now: 0 });
    const queue = await open();
    const at = await runTimes(queue);
    await queue.schedule('beat', { every: 1000 }, 'beat', null);
    await vi.advanceTimersByTimeAsync(400);
    await queue.schedule('beat', { every: 1000 }, 'beat', null);
    await vi.advanceTimersByTimeAsync(2000);
    expect(at).toEqual([0, 1000, 2000]);
  });

  it('leaves no timer behind after unschedule or close', async () => {
    vi.useFakeTimers({ now: 0 });
    const queue = await open();
    await queue.schedule('a', { every: 1000 }, 'a', null);
    await queue.schedule('b', { cron: '* * * * *' }, 'b', null);
    expect(vi.getTimerCount()).toBe(2);
    await queue.unschedule('a');
    expect(vi.getTimerCount()).toBe(1);
    await queue.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('checks the data once, when scheduling: every run carries the schema output', async () => {
    vi.useFakeTimers({ now: 0 });
    let checks = 0;
    // Fills in a default, so the handler shows it received the output rather than the input.
    const Counted: StandardSchemaV1<{ to: string }, { to: string; tries: number }> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: (value) => {
          checks++;
          return { value: { ...(value as { to: string }), tries: 0 } };
        },
      },
    };
    const queue = await open({ schema: Counted });
    const seen: unknown[] = [];
    await queue.process((job) => {
      seen.push(job.data);
    });
    const data = { to: 'ops@example.com' };
    await queue.schedule('digest', { every: 1000 }, 'digest', data);
    data.to = 'changed@example.com';
    await vi.advanceTimersByTimeAsync(2500);
    expect(checks).toBe(1);
    expect(seen).toEqual([
      { to: 'ops@example.com', tries: 0 },
      { to: 'ops@example.com', tries: 0 },
      { to: 'ops@example.com', tries: 0 },
    ]);
  });

  it('does not load cron-parser for `every` schedules, and names the package when it is missing', async () => {
    const fixture = join(import.meta.dirname, '../../../test/fixtures/no-cron-parser.ts');
    const { stdout } = await run(process.execPath, [fixture], { timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual({
      lookedBeforeCron: 0,
      lookedAfterCron: 1,
      missingError: true,
      code: 'KEEL_JOB_CRON_PARSER_MISSING',
      message:
        'Cron schedules need the package cron-parser (a dependency of bullmq, optional for memory:// queues); ' +
        'install it: npm install cron-parser',
    });
  });
});
