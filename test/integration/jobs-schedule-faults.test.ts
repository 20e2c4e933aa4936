/** Schedules on real redis-server processes: several processes running one schedule, and a restart. */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis } from '../../scripts/engines.ts';
import { redisUrl } from './redis-env.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A run a scheduler process printed: the job's id and the time of its schedule run it stands for. */
interface Run {
  readonly id: string;
  readonly tick: number;
  readonly at: number;
  readonly process: number;
}

/** Starts `count` processes that each schedule `tick` every `every` ms and work the queue; collects runs. */
async function startSchedulers(url: string, name: string, every: number, count: number): Promise<Run[]> {
  const runs: Run[] = [];
  const children: ChildProcess[] = [];
  cleanups.push(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
  });
  const fixture = join(import.meta.dirname, 'fixtures/jobs-scheduler.ts');
  for (let p = 0; p < count; p++) {
    const child = spawn(process.execPath, [fixture, url, name, String(every)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      const early = (code: number | null, signal: string | null) =>
        reject(new Error(`scheduler process exited early (${code ?? signal})`));
      child.once('exit', early);
      let buffered = '';
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf('\n');
          if (line === 'ready') {
            child.off('exit', early);
            resolve();
          }
          const m = /^run (repeat:tick:(\d+)) (\d+)$/.exec(line);
          if (m) runs.push({ id: m[1] as string, tick: Number(m[2]), at: Number(m[3]), process: p });
        }
      });
    });
  }
  return runs;
}

function obliterateLater(name: string, url: string): void {
  cleanups.push(async () => {
    const raw = new Queue(name, { connection: { url }, prefix: 'keel' });
    await raw.obliterate({ force: true });
    await raw.close();
  });
}

/** The distinct runs of the schedule, in order, and how many times each ran. */
function ticks(runs: readonly Run[]): { times: number[]; perTick: Map<number, number> } {
  const perTick = new Map<number, number>();
  for (const run of runs) perTick.set(run.tick, (perTick.get(run.tick) ?? 0) + 1);
  return { times: [...perTick.keys()].sort((a, b) => a - b), perTick };
}

const gaps = (times: readonly number[]): number[] => times.slice(1).map((t, i) => t - (times[i] as number));

/**
 * Checks that consecutive runs sit on the schedule's grid (a whole number of `every` apart, never closer),
 * and returns how many runs between them were skipped. BullMQ adds the next run's job when a worker takes
 * the current one; a worker that takes a job more than `every` late (a loaded machine) skips a run.
 */
function skippedRuns(steps: readonly number[], every: number): number {
  for (const step of steps) {
    expect(step, `steps: ${steps}`).toBeGreaterThanOrEqual(every);
    expect(step % every, `steps: ${steps}`).toBe(0);
  }
  return steps.reduce((sum, step) => sum + step / every - 1, 0);
}

describe('a schedule run by three processes', () => {
  it('adds exactly one job per run: none doubled, none skipped but for one late pickup', {
    timeout: 60_000,
  }, async () => {
    const url = redisUrl();
    const name = `schedule-3p-${randomUUID()}`;
    obliterateLater(name, url);
    const every = 300;
    const runs = await startSchedulers(url, name, every, 3);
    const started = runs.length;
    await sleep(4000);
    const { times, perTick } = ticks(runs.slice(started));
    expect(times.length, `runs: ${JSON.stringify(runs)}`).toBeGreaterThanOrEqual(8);
    // One job for each run of the schedule, and each job ran once, whichever process took it.
    expect(
      [...perTick.values()].every((n) => n === 1),
      `runs: ${JSON.stringify(runs)}`,
    ).toBe(true);
    // Consecutive runs are `every` apart: none added per process, and (on a machine not overloaded) none
    // skipped; at most one is allowed for a worker that takes its job a full `every` late.
    expect(skippedRuns(gaps(times), every)).toBeLessThanOrEqual(1);
    // The work is shared: not every run went to one process.
    expect(new Set(runs.map((r) => r.process)).size).toBeGreaterThan(1);
  });
});

describe('a schedule across a redis-server restart (append-only file)', () => {
  it('skips no more runs than the outage covered and doubles none', { timeout: 90_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keel-schedule-aof-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const engine = await startRedis({ appendonly: true, dir });
    cleanups.push(() => engine.stop());
    const name = `schedule-restart-${randomUUID()}`;
    const every = 300;
    const runs = await startSchedulers(engine.url, name, every, 3);
    await sleep(2000);
    const down = Date.now();
    await engine.stop();
    await sleep(1500);
    await engine.start();
    const up = Date.now();
    await sleep(5000);
    const { times, perTick } = ticks(runs);
    const before = times.filter((t) => t < down);
    const after = times.filter((t) => t > up);
    expect(before.length, `runs: ${JSON.stringify(runs)}`).toBeGreaterThanOrEqual(4);
    expect(after.length, `runs: ${JSON.stringify(runs)}`).toBeGreaterThanOrEqual(4);
    // No run doubled: every tick is one job, and runs never come closer than `every`.
    expect(
      [...perTick.values()].every((n) => n === 1),
      `runs: ${JSON.stringify(runs)}`,
    ).toBe(true);
    const steps = gaps(times);
    // Only the outage leaves a hole: it spans the time Redis was down, plus the clients' way back (ioredis
    // retries at most every 2 s), plus one run. Elsewhere at most one run is skipped (see skippedRuns).
    const outage = up - down;
    const hole = Math.max(...steps);
    expect(hole, `steps: ${steps}`).toBeLessThanOrEqual(outage + 2000 + 2 * every);
    expect(skippedRuns(steps, every) - (hole / every - 1), `steps: ${steps}`).toBeLessThanOrEqual(1);
    // Runs after the restart resume the rhythm.
    expect(skippedRuns(gaps(after), every), `after: ${after}`).toBeLessThanOrEqual(1);
  });
});
