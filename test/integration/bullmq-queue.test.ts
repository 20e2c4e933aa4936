import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { openQueue, QueueConnectionError } from '../../src/jobs/index.ts';
import { runJobQueueContract } from '../../src/jobs/job-queue.contract.ts';
import { redisUrl } from './redis-env.ts';

const url = redisUrl();
const names: string[] = [];

/** Removes every key of the queues a test used, so no test sees another's jobs. */
afterEach(async () => {
  for (const name of names.splice(0)) {
    const raw = new Queue(name, { connection: { url }, prefix: 'keel' });
    await raw.obliterate({ force: true });
    await raw.close();
  }
});

runJobQueueContract('bullmq', (options) => {
  const name = `contract-${randomUUID()}`;
  names.push(name);
  return openQueue(url, name, options);
});

describe('bullmq queue', () => {
  it('fails with a retryable QueueConnectionError when Redis cannot be reached', async () => {
    const error = await openQueue('redis://127.0.0.1:1', 'q', { connectTimeoutMs: 300 }).catch((e) => e);
    expect(error).toBeInstanceOf(QueueConnectionError);
    expect(error).toMatchObject({ code: 'KEEL_JOB_QUEUE_CONNECTION', retryable: true });
    expect(error.message).toContain('Could not reach Redis at 127.0.0.1:1 within 300 ms');
  });

  it('fails at once, not at connectTimeoutMs, when the connection is refused', {
    timeout: 30_000,
  }, async () => {
    const started = Date.now();
    const error = await openQueue('redis://127.0.0.1:1', 'q', { connectTimeoutMs: 20_000 }).catch((e) => e);
    expect(error).toBeInstanceOf(QueueConnectionError);
    expect(error).toMatchObject({ code: 'KEEL_JOB_QUEUE_CONNECTION', retryable: true });
    expect(error.message).toContain('ECONNREFUSED');
    // Far below connectTimeoutMs, with room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('shares jobs between queue objects of the same name, as separate processes would', async () => {
    const name = `shared-${randomUUID()}`;
    names.push(name);
    await using producer = await openQueue(url, name);
    await using consumer = await openQueue<number>(url, name);
    const seen: number[] = [];
    const done = new Promise<void>((resolve) => {
      consumer.on('completed', () => seen.length === 3 && resolve());
    });
    await consumer.process((job) => {
      seen.push(job.data);
    });
    for (const n of [1, 2, 3]) await producer.add('n', n);
    await done;
    expect(seen.sort()).toEqual([1, 2, 3]);
  });
});
