/**
 * Jobs per second through Keel's BullMQ queue against raw BullMQ, same Redis, same process, concurrency 10.
 * Uses KEEL_REDIS_URL when set (scripts/with-engines.ts), otherwise starts a throwaway redis-server.
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { type Engine, startRedis } from '../scripts/engines.ts';
import { openQueue } from '../src/jobs/index.ts';
import { ratio, run, target } from './harness.ts';

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
  keel.on('completed', keelDone.tick);
  await keel.process(async (job) => job.data, { concurrency: CONCURRENCY });

  const data = Array.from({ length: JOBS }, (_, i) => i);
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
          run: async (n) => {
            for (let i = 0; i < n; i++) {
              const finished = rawDone.next(JOBS);
              await Promise.all(data.map((d) => rawQueue.add('n', d)));
              await finished;
            }
          },
        },
        {
          name: 'keel bullmq queue',
          run: async (n) => {
            for (let i = 0; i < n; i++) {
              const finished = keelDone.next(JOBS);
              await Promise.all(data.map((d) => keel.add('n', d)));
              await finished;
            }
          },
        },
      ],
    });
    const speed = 1 / ratio(results, 'keel bullmq queue', 'bullmq');
    target('keel bullmq queue jobs/s vs raw bullmq', speed, 0.9, 'at least');
    for (const r of results) {
      console.log(`- ${r.name}: ${Math.round((JOBS * 1e9) / r.medianNs)} jobs/s (median)`);
    }
    console.log('');
  } finally {
    await keel.close({ timeoutMs: 5000 });
    await rawWorker.close();
    await rawQueue.obliterate({ force: true });
    await rawQueue.close();
    const cleanup = new Queue(keelName, { connection, prefix: 'keel' });
    await cleanup.obliterate({ force: true });
    await cleanup.close();
    await engine?.stop();
  }
}
