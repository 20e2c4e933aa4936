/**
 * Jobs per second through Keel's BullMQ queue against raw BullMQ, same Redis, same process, concurrency 10.
 * Uses KEEL_REDIS_URL when set (scripts/with-engines.ts), otherwise starts a throwaway redis-server.
 * Then `addBulk` of 10,000 jobs against BullMQ's own and a loop of `add` (awaited one by one, and all at
 * once), and the cost of hearing events from every process (Keel's reader, BullMQ's `QueueEvents` and a
 * bare XREAD loop), on a private redis-server (the bulk case empties it between samples). Those two cases
 * also print CPU time per job, here, in Redis and in the listener process.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { type Engine, startRedis } from '../scripts/engines.ts';
import { openQueue } from '../src/jobs/index.ts';
import { run, spread, target } from './harness.ts';

const JOBS = 1000;
const CONCURRENCY = 10;

/** Resolves after `count` more calls of the returned `tick`. */
function counter(): { tick: () => void; next: (count: number) => Promise<void> } {
  let left = 0;
  let done: (() => void) | undefined;
  return {
    tick: () => {
      if (--left === 0) done?.();
    },
    next: (count) =>
      new Promise<void>((resolve) => {
        left = count;
        done = resolve;
      }),
  };
}

/** CPU time (user + system, ms) one candidate spent, in this process and in Redis, and on how many jobs. */
interface Spent {
  jobs: number;
  here: number;
  redis: number;
}

/** Redis's own CPU time so far, in ms (INFO cpu). */
async function redisCpu(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const read = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (read('used_cpu_user') + read('used_cpu_sys')) * 1000;
}

/**
 * Wraps a candidate's loop so its CPU time here and in Redis adds up in `spent`, warm-up and sizing
 * included: on a shared machine CPU time moves far less than elapsed time, and Redis's share is what every
 * process of a deployment shares.
 */
function metered(admin: Redis, spent: Spent, jobsPerCall: number, loop: (n: number) => Promise<void>) {
  return async (n: number) => {
    const redisBefore = await redisCpu(admin);
    const before = process.cpuUsage();
    await loop(n);
    const here = process.cpuUsage(before);
    spent.here += (here.user + here.system) / 1000;
    spent.redis += (await redisCpu(admin)) - redisBefore;
    spent.jobs += n * jobsPerCall;
  };
}

/** Prints CPU time per job for each candidate; `elsewhere` adds a column (ms in another process). */
function cpuTable(
  rows: readonly { name: string; spent: Spent; elsewhere?: number }[],
  column?: string,
): void {
  const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
  const per = rows.map(({ spent, elsewhere }) => ({
    here: spent.here / spent.jobs,
    redis: spent.redis / spent.jobs,
    elsewhere: elsewhere === undefined ? undefined : elsewhere / spent.jobs,
  }));
  const total = per.map((p) => p.here + p.redis + (p.elsewhere ?? 0));
  const base = total[0] as number;
  console.log('CPU time per job (user + system), over every call of each candidate, warm-up included:\n');
  console.log(
    `| candidate | this process | Redis |${column ? ` ${column} |` : ''} total | × ${rows[0]?.name} |`,
  );
  console.log(`| --- | --- | --- |${column ? ' --- |' : ''} --- | --- |`);
  for (const [i, { name }] of rows.entries()) {
    const p = per[i] as (typeof per)[number];
    const other = column ? ` ${p.elsewhere === undefined ? '—' : us(p.elsewhere)} |` : '';
    const t = total[i] as number;
    console.log(
      `| ${name} | ${us(p.here)} | ${us(p.redis)} |${other} ${us(t)} | ${(t / base).toFixed(2)}× |`,
    );
  }
  console.log('');
}

export default async function (): Promise<void> {
  let engine: Engine | undefined;
  const url = process.env.KEEL_REDIS_URL || (engine = await startRedis()).url;
  const rawName = `bench-raw-${randomUUID()}`;
  const keelName = `bench-keel-${randomUUID()}`;
  const connection = { url, maxRetriesPerRequest: null };

  const rawQueue = new Queue(rawName, {
    connection,
    defaultJobOptions: { removeOnComplete: { count: 1000 } },
  });
  const rawDone = counter();
  const rawWorker = new Worker(rawName, async (job) => job.data, {
    connection,
    concurrency: CONCURRENCY,
    removeOnComplete: { count: 1000 },
  });
  rawWorker.on('completed', rawDone.tick);
  await rawWorker.waitUntilReady();

  const keel = await openQueue<number>(url, keelName);
  const keelDone = counter();
  // The worker's own listener, like raw BullMQ's `rawWorker.on`: `keel.on` would hear every process's jobs
  // from the event stream, a different (and dearer) thing than the worker-local events compared here.
  const keelWorker = await keel.process(async (job) => job.data, { concurrency: CONCURRENCY });
  keelWorker.on('completed', keelDone.tick);

  const data = Array.from({ length: JOBS }, (_, i) => i);
  const admin = new Redis(url);
  const spent = { bullmq: { jobs: 0, here: 0, redis: 0 }, keel: { jobs: 0, here: 0, redis: 0 } };
  try {
    const results = await run({
      title: `${JOBS} jobs added, then run at concurrency ${CONCURRENCY} (one queue, one worker)`,
      unit: `batch of ${JOBS} jobs`,
      baseline: 'bullmq',
      subject: 'keel bullmq queue',
      rounds: 15,
      sampleMs: 200,
      candidates: [
        {
          name: 'bullmq',
          run: metered(admin, spent.bullmq, JOBS, async (n: number) => {
            for (let i = 0; i < n; i++) {
              const finished = rawDone.next(JOBS);
              await Promise.all(data.map((d) => rawQueue.add('n', d)));
              await finished;
            }
          }),
        },
        {
          name: 'keel bullmq queue',
          run: metered(admin, spent.keel, JOBS, async (n: number) => {
            for (let i = 0; i < n; i++) {
              const finished = keelDone.next(JOBS);
              await Promise.all(data.map((d) => keel.add('n', d)));
              await finished;
            }
          }),
        },
      ],
    });
    target(
      'raw bullmq time per job vs keel bullmq queue (keel speed)',
      spread(results, 'bullmq', 'keel bullmq queue'),
      0.9,
      'at least',
    );
    for (const r of results) {
      console.log(`- ${r.name}: ${Math.round((JOBS * 1e9) / r.medianNs)} jobs/s (median)`);
    }
    console.log('');
    cpuTable([
      { name: 'bullmq', spent: spent.bullmq },
      { name: 'keel bullmq queue', spent: spent.keel },
    ]);
  } finally {
    admin.disconnect();
    await keel.close({ timeoutMs: 5000 });
    await rawWorker.close();
    await rawQueue.obliterate({ force: true });
    await rawQueue.close();
    const cleanup = new Queue(keelName, { connection, prefix: 'keel' });
    await cleanup.obliterate({ force: true });
    await cleanup.close();
    await engine?.stop();
  }
  await bulkAndEvents();
}

const BULK = 10_000;
const EVENT_JOBS = 1000;

/** `addBulk` of 10,000 jobs, and throughput with and without a queue-level listener. */
export async function bulkAndEvents(): Promise<void> {
  // Its own server: the bulk case runs FLUSHDB ASYNC before each batch, so 10,000 jobs a sample do not
  // pile up (a fraction of a millisecond, the same for every candidate).
  const engine = await startRedis();
  const url = engine.url;
  const admin = new Redis(url);
  // The same job options as Keel's defaults, so both store and check the same per job.
  const rawQueue = new Queue(`bench-bulk-raw-${randomUUID()}`, {
    connection: { url, maxRetriesPerRequest: null },
    defaultJobOptions: { attempts: 1, removeOnComplete: { count: 1000 }, removeOnFail: { count: 10_000 } },
  });
  const keel = await openQueue<number>(url, `bench-bulk-keel-${randomUUID()}`);
  const bulk = Array.from({ length: BULK }, (_, i) => ({ name: 'n', data: i }));
  const rawBulk = bulk.map(({ name, data }) => ({ name, data }));
  const spent = new Map<string, Spent>();
  const spentOn = (name: string) => {
    const entry = { jobs: 0, here: 0, redis: 0 };
    spent.set(name, entry);
    return entry;
  };
  try {
    const results = await run({
      title: `${BULK.toLocaleString('en')} jobs added in one call (no worker)`,
      unit: `batch of ${BULK.toLocaleString('en')} jobs`,
      baseline: 'bullmq addBulk',
      subject: 'keel addBulk',
      rounds: 11,
      sampleMs: 50,
      candidates: [
        {
          name: 'bullmq addBulk',
          run: async (n: number) => {
            for (let i = 0; i < n; i++) {
              await admin.flushdb('ASYNC');
              await rawQueue.addBulk(rawBulk);
            }
          },
        },
        {
          name: 'keel addBulk',
          run: async (n: number) => {
            for (let i = 0; i < n; i++) {
              await admin.flushdb('ASYNC');
              await keel.addBulk(bulk);
            }
          },
        },
        {
          name: 'bullmq add, in a loop',
          run: async (n: number) => {
            for (let i = 0; i < n; i++) {
              await admin.flushdb('ASYNC');
              for (const { name, data } of rawBulk) await rawQueue.add(name, data);
            }
          },
        },
        {
          name: 'keel add, in a loop',
          run: async (n: number) => {
            for (let i = 0; i < n; i++) {
              await admin.flushdb('ASYNC');
              for (const { name, data } of bulk) await keel.add(name, data);
            }
          },
        },
        // The other reading of "a loop of add": every add started at once, pipelined on one connection.
        {
          name: 'keel add, all at once',
          run: async (n: number) => {
            for (let i = 0; i < n; i++) {
              await admin.flushdb('ASYNC');
              await Promise.all(bulk.map(({ name, data }) => keel.add(name, data)));
            }
          },
        },
      ].map(({ name, run }) => ({ name, run: metered(admin, spentOn(name), BULK, run) })),
    });
    target(
      'bullmq addBulk time vs keel addBulk (keel speed)',
      spread(results, 'bullmq addBulk', 'keel addBulk'),
      0.9,
      'at least',
    );
    target(
      'keel add loop time vs keel addBulk (addBulk speed-up)',
      spread(results, 'keel add, in a loop', 'keel addBulk'),
      10,
      'at least',
    );
    target(
      'keel add all at once time vs keel addBulk (addBulk speed-up over concurrent adds)',
      spread(results, 'keel add, all at once', 'keel addBulk'),
      10,
      'at least',
    );
    // The ceiling on the line above: what BullMQ's own addBulk gains over its own loop of `add`.
    target(
      'bullmq add loop time vs bullmq addBulk (bullmq speed-up)',
      spread(results, 'bullmq add, in a loop', 'bullmq addBulk'),
      10,
      'at least',
    );
    console.log('');
    cpuTable([...spent].map(([name, cpu]) => ({ name, spent: cpu })));
  } finally {
    await keel.close({ timeoutMs: 5000 });
    await rawQueue.close();
  }

  await listeners(url, admin, engine);
}

/** The readers of the listener case that run in a process of their own (bench/jobs-listener.ts). */
const READERS = [
  ['keel', 'keel listener in another process'],
  ['bullmq', 'bullmq QueueEvents in another process'],
  ['xread', 'bare XREAD loop in another process'],
] as const;

/**
 * Throughput with and without a queue-level listener. One queue per candidate, each with the same worker
 * here: the first has no listener; three have a reader in another process, which hears their jobs' events
 * from Redis as a web process would (Keel's, BullMQ's own `QueueEvents`, and a bare XREAD loop: the least
 * any reader of the stream costs); the last a listener on another queue object in this process, which also
 * pays for reading the events on the workers' CPU.
 */
export async function listeners(url: string, admin: Redis, engine: Engine): Promise<void> {
  const plain = await openQueue<number>(url, `bench-events-plain-${randomUUID()}`);
  const remote = await Promise.all(
    READERS.map(([reader]) => openQueue<number>(url, `bench-events-${reader}-${randomUUID()}`)),
  );
  const local = await openQueue<number>(url, `bench-events-local-${randomUUID()}`);
  const listener = await openQueue<number>(url, local.name);
  let events = 0;
  listener.on('completed', () => {
    events++;
  });
  const queues = [plain, ...remote, local];
  const done = queues.map(() => counter());
  for (const [i, queue] of queues.entries()) {
    const worker = await queue.process(async (job) => job.data, { concurrency: CONCURRENCY });
    worker.on('completed', (done[i] as ReturnType<typeof counter>).tick);
  }
  const webs = READERS.map(([reader], i) => {
    const web = spawn(
      process.execPath,
      [join(import.meta.dirname, 'jobs-listener.ts'), url, (remote[i] as typeof plain).name, reader],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const out = { text: '' };
    web.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out.text += chunk;
    });
    return { web, out };
  });
  const jobs = Array.from({ length: EVENT_JOBS }, (_, i) => ({ name: 'n', data: i }));
  // The listener processes count their own CPU time, from ready to exit.
  const spent: Spent[] = queues.map(() => ({ jobs: 0, here: 0, redis: 0 }));
  const batch = (i: number) => {
    const queue = queues[i] as typeof plain;
    const finished = done[i] as ReturnType<typeof counter>;
    return metered(admin, spent[i] as Spent, EVENT_JOBS, async (n) => {
      for (let k = 0; k < n; k++) {
        const all = finished.next(EVENT_JOBS);
        await queue.addBulk(jobs);
        await all;
      }
    });
  };
  try {
    const readyBy = Date.now() + 30_000;
    while (!webs.every(({ out }) => out.text.includes('ready\n'))) {
      if (webs.some(({ web }) => web.exitCode !== null) || Date.now() > readyBy) {
        throw new Error('a listener process did not get ready within 30 s');
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const results = await run({
      title: `${EVENT_JOBS} jobs added and run at concurrency ${CONCURRENCY}, with and without a queue-level listener`,
      unit: `batch of ${EVENT_JOBS} jobs`,
      baseline: 'no listener',
      rounds: 15,
      sampleMs: 1000,
      candidates: [
        { name: 'no listener', run: batch(0) },
        ...READERS.map(([, name], i) => ({ name, run: batch(i + 1) })),
        { name: 'keel listener in this process', run: batch(queues.length - 1) },
      ],
    });
    target(
      'time per job with a keel listener in another process vs without',
      spread(results, 'keel listener in another process', 'no listener'),
      1.1,
      'at most',
    );
    target(
      'time per job with a keel listener in this process vs without',
      spread(results, 'keel listener in this process', 'no listener'),
      1.1,
      'at most',
    );
    // What a reader of the stream costs whoever writes it: BullMQ's own, and the least there is.
    target(
      'time per job with bullmq QueueEvents in another process vs without (reference)',
      spread(results, 'bullmq QueueEvents in another process', 'no listener'),
      1.1,
      'at most',
    );
    target(
      'time per job with a bare XREAD loop in another process vs without (floor)',
      spread(results, 'bare XREAD loop in another process', 'no listener'),
      1.1,
      'at most',
    );
    target(
      'time per job with a keel listener vs with bullmq QueueEvents, both in another process',
      spread(results, 'keel listener in another process', 'bullmq QueueEvents in another process'),
      1,
      'at most',
    );
    for (const r of results) {
      console.log(`- ${r.name}: ${Math.round((EVENT_JOBS * 1e9) / r.medianNs)} jobs/s (median)`);
    }
    const heard: string[] = [];
    const listenerMs: number[] = [];
    for (const [i, { web, out }] of webs.entries()) {
      web.stdin.end();
      await once(web, 'exit');
      heard.push(
        `${/heard (\d+)/.exec(out.text)?.[1]} by the ${(READERS[i] as (typeof READERS)[number])[0]} reader`,
      );
      listenerMs.push(Number(/cpu (\d+) ms/.exec(out.text)?.[1] ?? Number.NaN));
    }
    console.log(`- events heard: ${heard.join(', ')} in other processes, ${events} in this one`);
    console.log('');
    const names = ['no listener', ...READERS.map(([, name]) => name), 'keel listener in this process'];
    cpuTable(
      names.map((name, i) => ({
        name,
        spent: spent[i] as Spent,
        ...(i >= 1 && i <= READERS.length && { elsewhere: listenerMs[i - 1] as number }),
      })),
      'listener process',
    );
  } finally {
    for (const { web } of webs) if (web.exitCode === null) web.kill('SIGKILL');
    await Promise.all([...queues, listener].map((q) => q.close({ timeoutMs: 5000 })));
    await admin.quit();
    await engine.stop();
  }
}
