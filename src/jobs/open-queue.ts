/** openQueue: picks the queue implementation by URL scheme through a Registry; drivers load on first use. */

import { loadDriver } from '../load-driver.ts';
import { Registry } from '../registry/index.ts';
import type { SchemaOutput, StandardSchemaV1 } from '../standard-schema.ts';
import { QueueDriverMissingError } from './errors.ts';
import { openMemoryQueue } from './memory/memory-queue.ts';
import { checkQueueName, normalizeOpen } from './options.ts';
import { parseRedisUrl } from './redis-url.ts';
import type { JobQueue, OpenQueueOptions } from './types.ts';

/** The input type a Standard Schema accepts. */
export type SchemaInput<S> = S extends StandardSchemaV1<infer I, unknown> ? I : never;

async function openBullmq(url: URL, name: string, options?: OpenQueueOptions): Promise<JobQueue> {
  // The URL is read before the driver loads or any socket opens: a bad one is the caller's mistake.
  const target = parseRedisUrl(url);
  normalizeOpen(options);
  const packages = ['bullmq', 'ioredis'];
  const driver = await loadDriver(
    packages,
    () => import('./bullmq/bullmq-queue.ts'),
    (cause) => new QueueDriverMissingError(url.protocol.slice(0, -1), packages, cause),
  );
  return driver.openBullmqQueue(target, name, options);
}

const queues = new Registry('job queue')
  .register('memory', openMemoryQueue)
  .register('redis', openBullmq)
  .register('rediss', openBullmq);

/**
 * Opens the job queue `name` at `url`: `memory://` for the embedded queue (jobs live in this process),
 * `redis://host:port/db` or `rediss://` for a durable BullMQ queue shared by every process that opens it.
 *
 * ```ts
 * const queue = await openQueue('redis://127.0.0.1:6379', 'emails', { schema: Email });
 * await queue.add('welcome', { to: 'ada@example.com' }, { jobId: 'welcome-42', attempts: 3 });
 * await queue.process(async (job) => send(job.data), { concurrency: 10 });
 * ```
 * @throws UnknownKindError for another scheme; InvalidArgumentError for a bad name, option or URL (a
 *   database the server lacks included); QueueConnectionError when Redis cannot be reached within
 *   `connectTimeoutMs`; QueueAuthenticationError when Redis refuses the credentials; EvictionPolicyError
 *   when Redis may evict keys.
 */
export async function openQueue<S extends StandardSchemaV1>(
  url: string | URL,
  name: string,
  options: OpenQueueOptions<S> & { readonly schema: S },
): Promise<JobQueue<SchemaInput<S>, SchemaOutput<S>>>;
export async function openQueue<Data = unknown>(
  url: string | URL,
  name: string,
  options?: OpenQueueOptions<undefined>,
): Promise<JobQueue<Data>>;
export async function openQueue(
  url: string | URL,
  name: string,
  options?: OpenQueueOptions,
): Promise<JobQueue<unknown>>;
export async function openQueue(
  url: string | URL,
  name: string,
  options?: OpenQueueOptions,
): Promise<JobQueue> {
  const resolved = queues.resolveUrl(url);
  checkQueueName(name);
  return (await queues.create(resolved.kind, resolved.url, name, options)) as JobQueue;
}
