/**
 * Managing a BullMQ queue across processes on a real redis-server: cancel reaches a handler in another
 * process, pause holds workers in every process, and result() in a third process sees the outcome of a
 * job whose worker was killed and which another worker recovered. Events from another queue object too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type JobEvents, openQueue } from '../../src/jobs/index.ts';
import { redisUrl } from './redis-env.ts';

const url = redisUrl();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A child process in a role (see fixtures/jobs-role.ts), with its output lines as they come. */
interface Role {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Resolves with the first line (seen so far or later) that matches. */
  line(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
}

async function startRole(args: string[]): Promise<Role> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/jobs-role.ts'), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  const lines: string[] = [];
  let rest = '';
  const watchers = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
    for (const watcher of watchers) watcher();
  });
  const line = (match: (line: string) => boolean, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match);
        if (found === undefined) return;
        watchers.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`no line matching ${match} within ${timeoutMs} ms; got ${JSON.stringify(lines)}`));
      }, timeoutMs);
      watchers.add(check);
      check();
    });
  const role = { child, lines, line };
  await Promise.race([
    line((l) => l === 'ready'),
    once(child, 'exit').then(([code, signal]) => {
      throw new Error(`${args[0]} process exited early (${code ?? signal})`);
    }),
  ]);
  return role;
}

function freshName(label: string): string {
  const name = `${label}-${randomUUID()}`;
  cleanups.push(async () => {
    const raw = new Queue(name, { connection: { url }, prefix: 'keel' });
    await raw.obliterate({ force: true });
    await raw.close();
  });
  return name;
}

async function open(name: string) {
  const queue = await openQueue(url, name, { lockDurationMs: 1000, stalledIntervalMs: 200 });
  cleanups.push(() => queue.close({ timeoutMs: 1000 }));
  return queue;
}

describe('across processes', { timeout: 60_000 }, () => {
  it('cancel reaches a handler running in another process within 1 s, and the job fails as cancelled', async () => {
    const name = freshName('cancel');
    const worker = await startRole(['worker', url, name, 'wait-abort']);
    const queue = await open(name);
    const id = await queue.add('long', null, { attempts: 3 });
    await worker.line((l) => l === `started ${id}`);
    const t0 = Date.now();
    expect(await queue.cancel(id)).toBe(true);
    expect(await worker.line((l) => l.startsWith(`aborted ${id}`))).toBe(`aborted ${id} KEEL_JOB_CANCELLED`);
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(queue.result(id, { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'KEEL_JOB_FAILED',
      causeCode: 'KEEL_JOB_CANCELLED',
    });
    expect(await queue.getJob(id)).toMatchObject({
      state: 'failed',
      attempt: 1,
      error: { code: 'KEEL_JOB_CANCELLED' },
    });
    expect(worker.lines.filter((l) => l === `started ${id}`)).toHaveLength(1);
  });

  it('pause holds the workers of every process, resume releases them, and no job is lost', async () => {
    const name = freshName('pause');
    const queue = await open(name);
    const workers = [
      await startRole(['worker', url, name, 'echo']),
      await startRole(['worker', url, name, 'echo']),
    ];
    await queue.pause();
    const ids = await queue.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: 'n', data: i })));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const startedWhilePaused = workers.flatMap((w) => w.lines.filter((l) => l.startsWith('started')));
    expect(startedWhilePaused).toEqual([]);
    expect(await queue.counts()).toMatchObject({ waiting: 20, active: 0, completed: 0 });
    expect((await queue.getJob(ids[0] as string))?.state).toBe('paused');
    await queue.resume();
    await vi.waitFor(async () => expect((await queue.counts()).completed).toBe(20), {
      timeout: 20_000,
      interval: 50,
    });
    const started = workers.flatMap((w) => w.lines.filter((l) => l.startsWith('started ')));
    expect(started.map((l) => l.slice('started '.length)).sort()).toEqual([...ids].sort());
    expect(await queue.result(ids[7] as string, { timeoutMs: 5000 })).toEqual({ echoed: 7 });
  });

  it('result() in a third process sees the outcome of a job recovered from a SIGKILLed worker', async () => {
    const name = freshName('recover');
    const queue = await open(name);
    const victim = await startRole(['worker', url, name, 'hang']);
    const id = await queue.add('n', 'precious');
    await victim.line((l) => l === `started ${id}`);
    const waiter = await startRole(['result', url, name, id]);
    victim.child.kill('SIGKILL');
    await once(victim.child, 'exit');
    await startRole(['worker', url, name, 'echo']);
    const outcome = await waiter.line((l) => l.startsWith('{'), 30_000);
    expect(JSON.parse(outcome)).toEqual({ ok: true, result: { echoed: 'precious' } });
    expect((await queue.getJob(id))?.state).toBe('completed');
  });
});

describe('events from every process', { timeout: 30_000 }, () => {
  it('a queue object hears progress, completion and final failure of jobs another one runs', async () => {
    const name = freshName('events');
    const web = await open(name);
    const heard: string[] = [];
    const failures: JobEvents['failed'][] = [];
    const final = new Promise<JobEvents['failed']>((resolve) => {
      web.on('failed', (event) => {
        failures.push(event);
        if (!event.willRetry) resolve(event);
      });
    });
    web.on('progress', ({ job, progress }) => heard.push(`progress ${job.id} ${JSON.stringify(progress)}`));
    web.on('completed', ({ job, result }) => heard.push(`completed ${job.id} ${job.name} ${result}`));
    const runner = await open(name);
    const local: string[] = [];
    runner.on('completed', ({ job }) => local.push(job.id));
    await runner.process(async (job) => {
      await job.progress({ step: 1 });
      if (job.name === 'bad') throw Object.assign(new Error('nope'), { code: 'E_NOPE' });
      return 'done';
    });
    const ok = await runner.add('good', null);
    const bad = await runner.add('bad', null, { attempts: 2 });
    const failed = await final;
    expect(failed.job).toMatchObject({ id: bad, name: 'bad', attempts: 2 });
    expect(failed.willRetry).toBe(false);
    expect(failed.error).toMatchObject({ code: 'KEEL_JOB_FAILED', causeCode: 'E_NOPE' });
    // Every failed attempt, the retried one included, once.
    expect(failures.map((f) => [f.job.attempt, f.willRetry])).toEqual([
      [1, true],
      [2, false],
    ]);
    await vi.waitFor(() => expect(heard).toContain(`completed ${ok} good done`));
    expect(heard).toContain(`progress ${ok} {"step":1}`);
    // The runner's own jobs are heard once, from its worker, not again from the stream.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(local).toEqual([ok]);
  });

  it("hears a burst of another queue object's jobs in the stream's order, each with its own name and attempts", async () => {
    const name = freshName('events-burst');
    const web = await open(name);
    const heard: string[] = [];
    const all = new Promise<void>((resolve) => {
      web.on('progress', ({ job, progress }) => heard.push(`progress ${job.name} ${progress}`));
      web.on('completed', ({ job, result }) => {
        heard.push(`completed ${job.name} ${job.attempt}/${job.attempts} ${result}`);
        if (job.name === 'job-49') resolve();
      });
    });
    const runner = await open(name);
    // One job at a time, so the stream's order is the order of the adds.
    await runner.process(
      async (job) => {
        await job.progress(job.data as number);
        return job.data;
      },
      { concurrency: 1 },
    );
    const jobs = Array.from({ length: 50 }, (_, i) => ({
      name: `job-${i}`,
      data: i,
      options: { attempts: (i % 3) + 1 },
    }));
    await runner.addBulk(jobs);
    await all;
    expect(heard).toEqual(
      jobs.flatMap(({ name, data, options }) => [
        `progress ${name} ${data}`,
        `completed ${name} 1/${options.attempts} ${data}`,
      ]),
    );
  });

  it('hears every job of a burst longer than one read of the stream, each once', async () => {
    const name = freshName('events-slices');
    const web = await open(name);
    const count = 1500;
    const heard: string[] = [];
    const all = new Promise<void>((resolve) => {
      web.on('completed', ({ job }) => {
        heard.push(job.name);
        if (heard.length === count) resolve();
      });
    });
    const runner = await open(name);
    // All added before any runs: about 6,000 entries (added, waiting, active, completed), a read takes 1,000.
    await runner.addBulk(Array.from({ length: count }, (_, i) => ({ name: `job-${i}`, data: i })));
    await runner.process((job) => job.data, { concurrency: 20 });
    await all;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard).toHaveLength(count);
    expect(new Set(heard).size).toBe(count);
  });

  it('hears the final failure of a job whose earlier attempt its own worker ran', async () => {
    const name = freshName('events-retry');
    const a = await open(name);
    const finals: JobEvents['failed'][] = [];
    const retries: number[] = [];
    const heardFinal = new Promise<void>((resolve) => {
      a.on('failed', (event) => {
        if (event.willRetry) {
          retries.push(event.job.attempt);
          return;
        }
        finals.push(event);
        resolve();
      });
    });
    const mine = await a.process(() => {
      throw new Error('first attempt here');
    });
    const firstFailed = new Promise<void>((resolve) => mine.on('failed', () => resolve()));
    const id = await a.add('flaky', null, { attempts: 2, backoff: 300 });
    await firstFailed;
    await mine.pause();
    const b = await open(name);
    await b.process(() => {
      throw Object.assign(new Error('second attempt elsewhere'), { code: 'E_ELSEWHERE' });
    });
    await heardFinal;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(finals).toHaveLength(1);
    // Its own worker's failed attempt was heard once, from the worker, not again from the stream.
    expect(retries).toEqual([1]);
    expect(finals[0]?.job).toMatchObject({ id, name: 'flaky' });
    expect(finals[0]?.error).toMatchObject({ causeCode: 'E_ELSEWHERE' });
  });
});
