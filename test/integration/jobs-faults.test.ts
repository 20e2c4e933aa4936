/** Faults of a BullMQ queue on real redis-server processes: a killed worker, a restarted server, eviction. */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis } from '../../scripts/engines.ts';
import { EvictionPolicyError, openQueue } from '../../src/jobs/index.ts';
import { keys, recordEffect } from './fixtures/effects.ts';
import { redisUrl } from './redis-env.ts';

const url = redisUrl();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Polls `probe` every 20 ms until it returns true; fails after `timeoutMs` with `what`. */
async function until(
  what: string | (() => string),
  timeoutMs: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function startWorkerProcess(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/jobs-worker.ts'), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code, signal) =>
      reject(new Error(`worker process exited early (${code ?? signal})`)),
    );
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready\n')) resolve(child);
    });
  });
}

function obliterateLater(name: string, at: string): void {
  cleanups.push(async () => {
    const raw = new Queue(name, { connection: { url: at }, prefix: 'keel' });
    await raw.obliterate({ force: true });
    await raw.close();
  });
}

describe('a worker process killed with SIGKILL in the middle of jobs', () => {
  it('loses none of 1,000 jobs: another worker finishes them within 30 s, each effect once', {
    timeout: 90_000,
  }, async () => {
    const name = `kill-${randomUUID()}`;
    const prefix = `effects-${name}`;
    obliterateLater(name, url);
    const redis = new Redis(url);
    cleanups.push(async () => {
      await redis.del(keys(prefix).done, keys(prefix).runs);
      await redis.quit();
    });
    const queue = await openQueue(url, name, { keepCompleted: 10_000 });
    cleanups.push(() => queue.close({ timeoutMs: 5000 }));

    // A producer that retries its adds is harmless: the job ids make the second round a no-op.
    for (let round = 0; round < 2; round++) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) => queue.add('effect', i, { jobId: `job-${i}` })),
      );
    }
    expect((await queue.counts()).waiting).toBe(1000);

    const victim = await startWorkerProcess([url, name, prefix, '10']);
    const done = () => redis.scard(keys(prefix).done);
    await until('the victim to start working', 20_000, async () => (await done()) >= 100);
    // Only now the survivor starts, so the victim surely holds active jobs when it dies.
    await queue.process((job) => recordEffect(redis, prefix, job.id, 20), { concurrency: 10 });
    await until('both workers to share the load', 20_000, async () => (await done()) >= 300);
    const activeAtKill = (await queue.counts()).active;
    victim.kill('SIGKILL');
    await once(victim, 'exit');
    const killedAt = Date.now();

    await until('every job to complete after the kill', 60_000, async () => (await done()) === 1000);
    const recovery = Date.now() - killedAt;
    expect(recovery).toBeLessThan(30_000);
    expect(activeAtKill).toBeGreaterThan(0);
    await until('the queue to settle', 10_000, async () => (await queue.counts()).completed === 1000);
    expect(await queue.counts()).toEqual({ waiting: 0, delayed: 0, active: 0, completed: 1000, failed: 0 });
    const runs = Object.values(await redis.hgetall(keys(prefix).runs)).map(Number);
    expect(runs).toHaveLength(1000);
    expect(runs.every((n) => n >= 1)).toBe(true);
  });
});

describe('redis-server restarted while jobs wait', () => {
  it('completes every job after the restart (append-only file)', { timeout: 90_000 }, async () => {
    const engine = await startRedis({ appendonly: true });
    cleanups.push(() => engine.stop());
    const name = `restart-${randomUUID()}`;
    const queue = await openQueue<number>(engine.url, name);
    cleanups.push(() => queue.close({ timeoutMs: 5000 }));
    const errors: unknown[] = [];
    queue.on('error', ({ error }) => errors.push(error));
    const ran = new Set<string>();
    await queue.process(
      async (job) => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        ran.add(job.id);
      },
      { concurrency: 5 },
    );
    for (let i = 0; i < 300; i++) await queue.add('n', i, { jobId: `job-${i}` });
    await until('some jobs to complete', 20_000, async () => ran.size >= 30);
    await engine.restart();
    const waitingAfterRestart = (await queue.counts()).waiting;
    expect(waitingAfterRestart).toBeGreaterThan(0);
    // Redis holds the truth: a `completed` event may be lost for a job whose completion raced the restart.
    let last = await queue.counts();
    await until(
      () => `all 300 jobs to complete after the restart (last counts ${JSON.stringify(last)})`,
      60_000,
      async () => (last = await queue.counts()).completed === 300,
    );
    expect(last).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 300, failed: 0 });
    expect(ran.size).toBe(300);
  });
});

describe('a Redis whose maxmemory-policy is not noeviction', () => {
  it.each(['allkeys-lru', 'volatile-ttl'])(
    'refuses to open a queue on %s, saying why and what to set',
    { timeout: 30_000 },
    async (policy) => {
      const engine = await startRedis({ maxmemoryPolicy: policy });
      cleanups.push(() => engine.stop());
      const error = await openQueue(engine.url, 'q').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EvictionPolicyError);
      expect(error).toMatchObject({ code: 'KEEL_JOB_EVICTION_POLICY', policy, retryable: false });
      expect((error as Error).message).toContain(`maxmemory-policy "${policy}"`);
      expect((error as Error).message).toContain('maxmemory-policy noeviction');
      const keysLeft = new Redis(engine.url);
      expect(await keysLeft.dbsize()).toBe(0);
      await keysLeft.quit();
    },
  );
});
