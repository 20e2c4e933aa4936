/**
 * A job queue in a few lines: retries, idempotent adds, a schedule, and a progress bar.
 *
 * `npm run example:jobs` runs it embedded, in one process. `QUEUE_URL=redis://127.0.0.1:6379 npm run
 * example:jobs` runs the same code on Redis (BullMQ), where the jobs would survive a crash, and starts the
 * report worker in a second process: this process prints that worker's progress from queue-level events,
 * as a web process would for a worker running elsewhere.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openQueue } from '../src/jobs/index.ts';

const url = process.env.QUEUE_URL ?? process.argv[2] ?? 'memory://';
const remote = !url.startsWith('memory:');

/** The report worker: renders a report in five steps, reporting progress after each. */
async function startReportWorker(reports: Awaited<ReturnType<typeof openReports>>) {
  return reports.process(async (job) => {
    if (job.name === 'heartbeat') return 'alive';
    for (let step = 1; step <= 5; step++) {
      await new Promise((resolve) => setTimeout(resolve, 60));
      await job.progress(step * 20);
    }
    return `report for ${job.data?.month}: 42 pages`;
  });
}

function openReports() {
  return openQueue<{ month: string } | null>(url, 'reports');
}

if (process.env.JOBS_EXAMPLE_ROLE === 'worker') {
  // The second process (Redis only): works the report queue until its parent closes stdin.
  const reports = await openReports();
  await startReportWorker(reports);
  process.stdout.write('worker ready\n');
  process.stdin.resume();
  await once(process.stdin, 'end');
  await reports.close({ timeoutMs: 5000 });
} else {
  await emails();
  await reportsWithProgress();
}

/** Retries, idempotent adds and a delay, all in this process. */
async function emails(): Promise<void> {
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
  // A job id of this run's own, so running the example again on the same Redis adds the job again.
  const jobId = `welcome-ada-${Date.now().toString(36)}`;
  await queue.add('welcome', { to: 'ada@example.com' }, { jobId });
  await queue.add('welcome', { to: 'ada@example.com' }, { jobId }); // idempotent: not added again
  await queue.add('welcome', { to: 'flaky@example.com' }, { attempts: 3, backoff: 100 });
  await queue.add('reminder', { to: 'grace@example.com' }, { delay: 200 });
  await finished.promise;
}

/** A schedule, and a progress bar drawn from queue-level events of a job another process runs. */
async function reportsWithProgress(): Promise<void> {
  await using reports = await openReports();
  // On Redis the worker is another process. An embedded queue lives in this process only, so it runs here.
  const worker = remote ? await startWorkerProcess() : undefined;
  if (!remote) await startReportWorker(reports);

  const beats = Promise.withResolvers<void>();
  let heartbeats = 0;
  reports.on('completed', ({ job }) => {
    if (job.name !== 'heartbeat') return;
    console.log(`heartbeat ${++heartbeats}`);
    if (heartbeats === 2) beats.resolve();
  });
  reports.on('progress', ({ job, progress }) => {
    const percent = progress as number;
    const bar = '#'.repeat(percent / 10).padEnd(10, '-');
    console.log(`${job.name} #${job.id} [${bar}] ${String(percent).padStart(3)}%`);
  });

  // Every process may run this line at start-up: on Redis each run still adds one job.
  await reports.schedule('heartbeat', { every: 200 }, 'heartbeat', null);
  for (const { id, rhythm, name } of await reports.schedules()) {
    console.log(`schedule ${id}: ${name} ${JSON.stringify(rhythm)}`);
  }
  // The first heartbeat heard shows the events of the other process reach this one.
  await beats.promise;
  const id = await reports.add('render', { month: '2026-11' });
  console.log(await reports.result(id, { timeoutMs: 10_000 }));
  console.log(`unscheduled: ${await reports.unschedule('heartbeat')}`);
  if (worker) {
    worker.stdin?.end();
    await once(worker, 'exit');
  }
}

/** Starts this file as the worker process and resolves once it takes jobs. */
async function startWorkerProcess() {
  const child = spawn(process.execPath, [import.meta.filename], {
    env: { ...process.env, QUEUE_URL: url, JOBS_EXAMPLE_ROLE: 'worker' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ready = Promise.withResolvers<void>();
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (out.includes('worker ready\n')) ready.resolve();
  });
  child.once('exit', () => ready.reject(new Error('the worker process exited before it was ready')));
  await ready.promise;
  console.log('worker process ready');
  return child;
}
