/**
 * A job queue in a few lines: `node examples/jobs.ts` runs it embedded; `node examples/jobs.ts
 * redis://127.0.0.1:6379` runs the same code on Redis (BullMQ), where the jobs would survive a crash.
 */
import { openQueue } from '../src/jobs/index.ts';

const url = process.argv[2] ?? 'memory://';
await using queue = await openQueue<{ to: string }>(url, 'emails');

let done = 0;
const finished = Promise.withResolvers<void>();
queue.on('completed', ({ job, result }) => {
  console.log(`${job.name} #${job.id} (attempt ${job.attempt}):`, result);
  if (++done === 3) finished.resolve();
});
queue.on('failed', ({ job, error, willRetry }) =>
  console.log(`${job.name} #${job.id} failed: ${(error as Error).message}${willRetry ? ', retrying' : ''}`),
);

await queue.process(
  async (job) => {
    if (job.data.to === 'flaky@example.com' && job.attempt === 1) throw new Error('mail server busy');
    return `sent to ${job.data.to}`;
  },
  { concurrency: 2 },
);

await queue.add('welcome', { to: 'ada@example.com' }, { jobId: 'welcome-ada' });
await queue.add('welcome', { to: 'ada@example.com' }, { jobId: 'welcome-ada' }); // idempotent: not added again
await queue.add('welcome', { to: 'flaky@example.com' }, { attempts: 3, backoff: 100 });
await queue.add('reminder', { to: 'grace@example.com' }, { delay: 200 });
await finished.promise;
