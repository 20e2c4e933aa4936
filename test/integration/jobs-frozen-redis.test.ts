/**
 * A BullMQ queue whose Redis is killed (kill -9) or frozen (SIGSTOP, the connection stays open): every call
 * settles within its stated bound with a retryable error, close() honours timeoutMs and signal, and after
 * it nothing of the queue keeps the process alive.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Engine, startRedis } from '../../scripts/engines.ts';
import { KeelError } from '../../src/errors.ts';
import { type JobQueue, JobWaitTimeoutError, openQueue, QueueConnectionError } from '../../src/jobs/index.ts';
import { captureStderr, sleep } from './redis-probes.ts';

const cleanups: (() => Promise<unknown>)[] = [];
let stderr: { text: () => string } | undefined;

// Also catches console.error, which is how ioredis prints its "Unhandled error event".
beforeEach(() => {
  stderr = captureStderr();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.restoreAllMocks();
  expect(stderr?.text()).not.toContain('Unhandled error event');
});

/** A private redis-server; resumed (if stopped) and stopped after the test. */
async function privateRedis(): Promise<Engine> {
  const engine = await startRedis();
  cleanups.push(async () => {
    if (engine.running) process.kill(engine.pid, 'SIGCONT');
    await engine.stop();
  });
  return engine;
}

/** Settles like `work`, or fails saying what did not settle within `ms` (a generous bound). */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A queue with a worker holding one active job (its handler waits for its signal). */
async function busyQueue(engine: Engine): Promise<JobQueue> {
  const queue = await openQueue(engine.url, `frozen-${randomUUID()}`, {
    connectTimeoutMs: 1000,
    commandTimeoutMs: 1000,
  });
  cleanups.push(() => queue.close({ timeoutMs: 0 }));
  queue.on('error', () => {});
  const active = Promise.withResolvers<void>();
  await queue.process(
    (_job, { signal }) =>
      new Promise((_resolve, reject) => {
        active.resolve();
        signal.addEventListener('abort', () => reject(signal.reason));
      }),
  );
  await queue.add('hold', null);
  await within(10_000, 'the job to start', active.promise);
  return queue;
}

const faults: [string, (engine: Engine) => Promise<void>][] = [
  ['killed with kill -9', (engine) => engine.kill()],
  [
    'frozen with SIGSTOP',
    async (engine) => {
      process.kill(engine.pid, 'SIGSTOP');
    },
  ],
];

describe('a queue whose Redis is frozen while it opens', { timeout: 60_000 }, () => {
  /** Sockets and timers the process holds now. */
  const held = () =>
    process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;

  it('settles an open and a process() soon after their signal aborts, leaving no socket or timer', async () => {
    const engine = await privateRedis();
    const queue = await openQueue(engine.url, `frozen-${randomUUID()}`, { connectTimeoutMs: 60_000 });
    cleanups.push(() => queue.close({ timeoutMs: 0 }));
    queue.on('error', () => {});
    process.kill(engine.pid, 'SIGSTOP');
    const before = held();
    const lags: number[] = [];
    for (const start of [
      (signal: AbortSignal) => openQueue(engine.url, 'other', { connectTimeoutMs: 60_000, signal }),
      (signal: AbortSignal) => queue.process(() => {}, { signal }),
    ]) {
      const controller = new AbortController();
      const settled = start(controller.signal).then(
        () => 'opened',
        (e: unknown) => e,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const abortedAt = Date.now();
      controller.abort();
      const outcome = await within(10_000, 'the aborted call', settled);
      lags.push(Date.now() - abortedAt);
      expect(outcome).toMatchObject({ name: 'AbortError' });
    }
    // Within a few ms on an idle machine; the bound leaves room for a loaded one, below the 500 ms a
    // socket closing by itself would take.
    expect(Math.max(...lags)).toBeLessThan(400);
    await vi.waitFor(() => expect(held()).toBeLessThanOrEqual(before), { timeout: 2000 });
  });
});

describe.each(faults)('a queue whose Redis is %s', { timeout: 60_000 }, (_label, fault) => {
  it('rejects add and counts with a retryable QueueConnectionError within commandTimeoutMs', async () => {
    const engine = await privateRedis();
    const queue = await busyQueue(engine);
    await fault(engine);
    const added = await within(
      10_000,
      'add()',
      queue.add('n', 1).catch((e: unknown) => e),
    );
    expect(added).toBeInstanceOf(QueueConnectionError);
    expect(added).toMatchObject({ code: 'KEEL_JOB_QUEUE_CONNECTION', retryable: true });
    expect((added as Error).message).toMatch(
      /^Redis at 127\.0\.0\.1:\d+ did not answer add of job "n" within 1000 ms/,
    );
    const counted = await within(
      10_000,
      'counts()',
      queue.counts({ timeoutMs: 300 }).catch((e: unknown) => e),
    );
    expect(counted).toBeInstanceOf(QueueConnectionError);
    expect((counted as Error).message).toContain('did not answer counts within 300 ms');
    const aborted = queue.counts({ signal: AbortSignal.timeout(100), timeoutMs: 60_000 });
    await expect(within(10_000, 'counts({ signal })', aborted)).rejects.toMatchObject({
      name: 'TimeoutError',
    });
  });

  it('result() waits out a Redis that does not answer until its own timeoutMs, then JobWaitTimeoutError', async () => {
    const engine = await privateRedis();
    const queue = await busyQueue(engine);
    await fault(engine);
    const started = Date.now();
    const waited = await within(
      15_000,
      'result()',
      queue.result('order-1', { timeoutMs: 3000 }).catch((e: unknown) => e),
    );
    // Past commandTimeoutMs (1000 ms): the wait is bounded by its own timeoutMs, not by one read.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    expect(waited).toBeInstanceOf(JobWaitTimeoutError);
    expect(waited).toMatchObject({ code: 'KEEL_JOB_WAIT_TIMEOUT', retryable: true });
    expect((waited as Error).cause).toBeInstanceOf(QueueConnectionError);
    const cancelled = await within(
      10_000,
      'cancel()',
      queue.cancel('order-1').catch((e: unknown) => e),
    );
    expect(cancelled).toBeInstanceOf(QueueConnectionError);
    expect((cancelled as Error).message).toContain('did not answer cancel within 1000 ms');
  });

  it('close({ timeoutMs: 1000 }) settles within timeoutMs plus the release bound', async () => {
    const engine = await privateRedis();
    const queue = await busyQueue(engine);
    await fault(engine);
    // Stated bound (docs/jobs.md): timeoutMs + 5 s; the margin is for a loaded machine.
    await within(15_000, 'close({ timeoutMs: 1000 })', queue.close({ timeoutMs: 1000 }));
    await expect(queue.add('n', 1)).rejects.toMatchObject({ code: 'KEEL_JOB_QUEUE_CLOSED' });
  });

  it('close({ signal }) stops waiting for handlers when the signal aborts', async () => {
    const engine = await privateRedis();
    const queue = await busyQueue(engine);
    await fault(engine);
    const closing = queue.close({ timeoutMs: 600_000, signal: AbortSignal.timeout(200) });
    await within(15_000, 'close({ signal })', closing);
  });

  it('process() while Redis is unusable fails retryable within connectTimeoutMs', async () => {
    const engine = await privateRedis();
    const queue = await busyQueue(engine);
    await fault(engine);
    const error = await within(
      15_000,
      'process()',
      queue.process(() => {}).catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(KeelError);
    expect(error).toMatchObject({ retryable: true });
  });

  it('after close settles, nothing of the queue keeps the process alive', async () => {
    const engine = await privateRedis();
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'fixtures/jobs-close-exit.ts'), engine.url, `exit-${randomUUID()}`],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const exited = once(child, 'exit');
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    });
    let out = '';
    let err = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const line = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => out.includes(text) && resolve();
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          check();
        });
        check();
      });
    await within(20_000, 'the child to be ready', line('ready\n'));
    await fault(engine);
    child.stdin?.write('close\n');
    await within(15_000, "the child's close()", line('closed '));
    const [code] = (await within(10_000, 'the child to exit by itself after close()', exited)) as [
      number | null,
    ];
    expect(code, `child stderr: ${err}`).toBe(0);
    expect(err).not.toContain('Unhandled error event');
  });
});

describe('a listener whose Redis freezes while it reads events', { timeout: 60_000 }, () => {
  /** Sockets and timers the process holds now. */
  const held = () =>
    process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;

  /** A queue with a `completed` listener and an `error` listener whose event stream is open. */
  async function listening(engine: Engine) {
    const queue = await openQueue(engine.url, `frozen-${randomUUID()}`, {
      connectTimeoutMs: 1000,
      commandTimeoutMs: 1000,
    });
    cleanups.push(() => queue.close({ timeoutMs: 0 }));
    const errors: unknown[] = [];
    queue.on('error', ({ error }) => errors.push(error));
    const completed: unknown[] = [];
    queue.on('completed', (event) => completed.push(event));
    // result() waits for the stream to be open before it reads the job (which is not there).
    await expect(queue.result('no-such-job', { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'KEEL_JOB_NOT_FOUND',
    });
    return { queue, errors, completed };
  }

  /**
   * Appends a `completed` entry for `jobId` to the queue's event stream (redis-cli, so this process does not
   * turn its event loop meanwhile), then freezes Redis: the answer to the blocked stream read is already on
   * its way here, and the read of the job's fields that follows it goes to a frozen Redis.
   */
  async function completeThenFreeze(engine: Engine, queue: string, jobId: string): Promise<void> {
    // The reader reads on a moment after a read that brought entries (the job's `added`): let it block again.
    await sleep(200);
    execFileSync(
      'redis-cli',
      ['-p', String(engine.port), 'XADD', `keel:${queue}:events`, '*', 'event', 'completed', 'jobId', jobId],
      { timeout: 5000 },
    );
    process.kill(engine.pid, 'SIGSTOP');
  }

  it("reports a read of events' jobs that Redis does not answer as an 'error' after commandTimeoutMs, and delivers the events once it answers", async () => {
    const engine = await privateRedis();
    const { queue, errors, completed } = await listening(engine);
    const id = await queue.add('mail', null);
    await completeThenFreeze(engine, queue.name, id);
    const frozenAt = Date.now();
    await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 10_000 });
    expect(Date.now() - frozenAt).toBeGreaterThanOrEqual(1000);
    expect(errors[0]).toBeInstanceOf(QueueConnectionError);
    expect(errors[0]).toMatchObject({ code: 'KEEL_JOB_QUEUE_CONNECTION', retryable: true });
    expect((errors[0] as Error).message).toMatch(
      new RegExp(
        `^Redis at 127\\.0\\.0\\.1:\\d+ did not answer the read of the jobs of 1 event of queue "${queue.name}" within 1000 ms`,
      ),
    );
    expect(completed).toEqual([]);
    process.kill(engine.pid, 'SIGCONT');
    await vi.waitFor(() => expect(completed).toHaveLength(1), { timeout: 10_000 });
    expect(completed[0]).toMatchObject({ job: { id, name: 'mail', attempts: 1 } });
    expect(errors).toHaveLength(1);
  });

  it('a queue closed while such a read is unanswered leaves no timer or socket behind and reports nothing after', async () => {
    const engine = await privateRedis();
    const before = held();
    const { queue, errors } = await listening(engine);
    const id = await queue.add('mail', null);
    await completeThenFreeze(engine, queue.name, id);
    await sleep(200);
    await within(15_000, 'close({ timeoutMs: 0 })', queue.close({ timeoutMs: 0 }));
    await vi.waitFor(() => expect(held()).toBeLessThanOrEqual(before), { timeout: 2000 });
    // Past commandTimeoutMs: the bound was let go with the queue.
    await sleep(1500);
    expect(errors).toEqual([]);
    expect(stderr?.text()).not.toContain('did not answer the read');
  });

  it('reports a stream read that Redis leaves unanswered, and hears events again once it answers', async () => {
    const engine = await privateRedis();
    const { queue, errors, completed } = await listening(engine);
    process.kill(engine.pid, 'SIGSTOP');
    // A blocked read waits 5 s in Redis; unanswered 5 s + commandTimeoutMs, it is reported.
    await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 15_000 });
    expect(errors[0]).toBeInstanceOf(QueueConnectionError);
    expect((errors[0] as Error).message).toMatch(
      new RegExp(
        `^Redis did not answer a read of the event stream of queue "${queue.name}" at 127\\.0\\.0\\.1:\\d+ within 6000 ms`,
      ),
    );
    process.kill(engine.pid, 'SIGCONT');
    // Run by a worker of another queue object: heard from the stream, not from a worker of this one.
    const other = await openQueue(engine.url, queue.name);
    cleanups.push(() => other.close({ timeoutMs: 0 }));
    await other.process(() => 'done');
    const id = await other.add('mail', null);
    await vi.waitFor(() => expect(completed).toHaveLength(1), { timeout: 15_000 });
    expect(completed[0]).toMatchObject({ job: { id, name: 'mail' }, result: 'done' });
  });
});
