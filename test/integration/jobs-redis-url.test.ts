/** A BullMQ queue's Redis URL and credentials: refused at open with a named error, never a crash or db 0. */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startRedis } from '../../scripts/engines.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { badQueueNames } from '../../src/jobs/contract/helpers.ts';
import { openQueue, QueueAuthenticationError } from '../../src/jobs/index.ts';
import { redisUrl } from './redis-env.ts';
import { captureStderr } from './redis-probes.ts';

const url = redisUrl();
const cleanups: (() => Promise<unknown>)[] = [];
let stderr: { text: () => string } | undefined;

// Also catches console.error, which is how ioredis prints its "Unhandled error event".
beforeEach(() => {
  stderr = captureStderr();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.restoreAllMocks();
  // ioredis prints this when a client's error has no listener: never from a queue, in any of these cases.
  expect(stderr?.text()).not.toContain('Unhandled error event');
});

async function failure(call: () => Promise<unknown>): Promise<Error> {
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected a rejection with an Error');
  return error;
}

describe('the database in a redis:// URL', () => {
  it.each([
    ['abc', 'received "abc"'],
    ['-1', 'received "-1"'],
    ['1.5', 'received "1.5"'],
    ['3/extra', 'received "3/extra"'],
    ['%33', 'received "%33"'],
  ])(
    'refuses /%s with InvalidArgumentError before connecting, and the process lives on',
    async (db, says) => {
      // Nothing listens on port 1: a refusal here cannot have come from a server.
      const error = await failure(() =>
        openQueue(`redis://127.0.0.1:1/${db}`, 'q', { connectTimeoutMs: 300 }),
      );
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toContain('openQueue() url for 127.0.0.1:1: the database must be a number');
      expect(error.message).toContain(says);
    },
  );

  it('refuses /abc on a live server with InvalidArgumentError (no uncaught ReplyError)', async () => {
    const error = await failure(() => openQueue(`${url}/abc`, 'q'));
    expect(error).toBeInstanceOf(InvalidArgumentError);
  });

  it('refuses a query, which ioredis would read as client options', async () => {
    const error = await failure(() => openQueue(`${url}/2?db=3`, 'q'));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toContain('takes no query or fragment');
  });

  it('refuses a database the server does not have at open, and writes nothing into db 0', async () => {
    const name = `db-range-${randomUUID()}`;
    const errors: unknown[] = [];
    const error = await failure(async () => {
      const queue = await openQueue(`${url}/99999`, name);
      // Only reached without the check: show where the job would have gone.
      queue.on('error', ({ error: e }) => errors.push(e));
      cleanups.push(() => queue.close({ timeoutMs: 0 }));
      await queue.add('n', 1);
    }).catch((e: unknown) => e as Error);
    const db0 = new Redis(url);
    cleanups.push(() => db0.quit());
    const stray = await db0.keys(`keel:${name}:*`);
    if (stray.length > 0) await db0.del(...stray);
    expect(stray).toEqual([]);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toContain('has no database 99999');
    expect(error.message).toContain('DB index is out of range');
  });

  it('puts the jobs of /3 into database 3', async () => {
    const name = `db3-${randomUUID()}`;
    const queue = await openQueue(`${url}/3`, name);
    cleanups.push(async () => {
      await queue.close({ timeoutMs: 0 });
      const raw = new Queue(name, { connection: { url: `${url}/3` }, prefix: 'keel' });
      await raw.obliterate({ force: true });
      await raw.close();
    });
    await queue.add('n', 1);
    const db3 = new Redis(`${url}/3`);
    const db0 = new Redis(url);
    cleanups.push(() => Promise.all([db3.quit(), db0.quit()]));
    expect((await db3.keys(`keel:${name}:*`)).length).toBeGreaterThan(0);
    expect(await db0.keys(`keel:${name}:*`)).toEqual([]);
  });
});

describe('the host in a redis:// URL', () => {
  it.each(['redis://', 'rediss://', 'redis:///3', 'rediss:///0'])(
    'refuses %s, which names no host, with InvalidArgumentError before connecting',
    async (bare) => {
      const error = await failure(() => openQueue(bare, 'q', { connectTimeoutMs: 300 }));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toContain('openQueue() url names no host');
    },
  );
});

describe('credentials in a redis:// URL', () => {
  it('refuses a bad percent-escape with InvalidArgumentError that does not echo the credentials', async () => {
    for (const bad of ['redis://us%zzer:pw@127.0.0.1:1', 'redis://user:p%zzword@127.0.0.1:1']) {
      const error = await failure(() => openQueue(bad, 'q', { connectTimeoutMs: 300 }));
      expect(error, bad).toBeInstanceOf(InvalidArgumentError);
      expect(error.message).toMatch(
        /the (user name|password) of the Redis URL for 127\.0\.0\.1:1 has a bad percent-escape/,
      );
      expect(error.message).not.toContain('zz');
    }
  });

  it('says authentication failed, at once and not retryable, when Redis refuses the password', async () => {
    const engine = await startRedis();
    cleanups.push(() => engine.stop());
    const admin = new Redis(engine.url);
    await admin.config('SET', 'requirepass', 's3cret');
    await admin.quit();
    const at = `127.0.0.1:${engine.port}`;
    const connectTimeoutMs = 20_000;

    const started = Date.now();
    const wrong = await failure(() => openQueue(`redis://:wrong@${at}`, 'q', { connectTimeoutMs }));
    // It fails on the server's answer instead of waiting out connectTimeoutMs.
    expect(Date.now() - started).toBeLessThan(connectTimeoutMs / 2);
    expect(wrong).toBeInstanceOf(QueueAuthenticationError);
    expect(wrong).toMatchObject({ code: 'KEEL_JOB_QUEUE_AUTH', retryable: false });
    expect(wrong.message).toContain(`Redis at ${at} refused authentication: WRONGPASS`);
    expect(wrong.message).not.toContain('wrong@');

    const none = await failure(() => openQueue(`redis://${at}`, 'q', { connectTimeoutMs }));
    expect(none).toBeInstanceOf(QueueAuthenticationError);
    expect(none.message).toContain('NOAUTH');

    const queue = await openQueue(`redis://:s3cret@${at}`, 'q');
    await queue.add('n', 1);
    expect((await queue.counts()).waiting).toBe(1);
    await queue.close({ timeoutMs: 0 });
  });
});

describe('queue names', () => {
  it.each(badQueueNames)('refuses %j on Redis as the embedded queue does', async (name) => {
    const error = await failure(() => openQueue(url, name as string));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toContain(
      'openQueue() queue name must be 1 to 100 characters from A-Z a-z 0-9 . _ -; received',
    );
  });
});
