/**
 * A BullMQ queue over TLS: real redis-servers serving TLS with a throwaway CA (one verifying client
 * certificates and requiring a password). Jobs flow over `rediss://`; a handshake that fails is a
 * non-retryable QueueTlsError at open, not a wait until connectTimeoutMs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenQueueOptions, openQueue, QueueTlsError } from '../../src/jobs/index.ts';
import { redisUrl } from './redis-env.ts';
import { openResources, settledWithin, sleep } from './redis-probes.ts';
import { makePki, startTlsRedis, type TestPki, type TlsEngine } from './tls-engines.ts';

// The suite starts its own servers; the shared one must exist all the same, as for every integration test.
redisUrl();

/** Adds one job, processes it, and closes the queue (its keys removed). */
async function oneJob(url: string, options: OpenQueueOptions<undefined>): Promise<void> {
  const queue = await openQueue<{ n: number }>(url, `tls-${randomUUID()}`, {
    connectTimeoutMs: 10_000,
    ...options,
  });
  try {
    const done = new Promise<unknown>((resolve) => queue.on('completed', ({ result }) => resolve(result)));
    await queue.add('double', { n: 21 });
    const worker = await queue.process(async (job) => job.data.n * 2);
    await expect(done).resolves.toBe(42);
    await worker.close({ timeoutMs: 5000 });
  } finally {
    await queue.close({ timeoutMs: 5000 });
  }
}

async function refusal(
  url: string,
  options: OpenQueueOptions<undefined> = {},
): Promise<Error & { code?: string }> {
  const outcome = await settledWithin(openQueue(url, 'q', { connectTimeoutMs: 30_000, ...options }), 8000);
  expect(outcome, 'the open settled long before its 30 s connectTimeoutMs').not.toBe('pending');
  if (outcome === 'pending' || !('error' in outcome)) throw new Error('expected the open to fail');
  return outcome.error as Error & { code?: string };
}

describe('a bullmq queue over TLS', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let server: TlsEngine;
  let guarded: TlsEngine;
  const password = 'q-p@ss';

  beforeAll(async () => {
    pki = makePki();
    server = await startTlsRedis(pki);
    guarded = await startTlsRedis(pki, { verifyClients: true });
    const { Redis } = await import('ioredis');
    const admin = new Redis(guarded.engine.url);
    try {
      await admin.config('SET', 'requirepass', password);
    } finally {
      admin.disconnect();
    }
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
    await guarded?.stop();
    pki?.remove();
  }, 30_000);

  it('runs jobs over rediss:// with a trusted CA, and over redis:// with the tls option', async () => {
    await oneJob(server.url, { tls: { ca: pki.ca } });
    await oneJob(server.url.replace('rediss://', 'redis://'), { tls: { ca: pki.ca } });
  });

  it('runs jobs with a client certificate and a password over TLS', async () => {
    const url = guarded.url.replace('rediss://', `rediss://:${encodeURIComponent(password)}@`);
    await oneJob(url, { tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key } });
  });

  it('a server certificate from an unknown CA fails the open at once with a non-retryable QueueTlsError', async () => {
    const before = openResources();
    for (const options of [{}, { tls: { ca: pki.otherCa } }] as const) {
      const error = await refusal(server.url, options);
      expect(error).toBeInstanceOf(QueueTlsError);
      expect(error).toMatchObject({ code: 'KEEL_JOB_QUEUE_TLS', retryable: false });
      expect(error.message).toMatch(/^TLS with Redis at 127\.0\.0\.1:\d+ failed \(SELF_SIGNED_CERT_IN_CHAIN/);
    }
    const wrongName = await refusal(server.url, { tls: { ca: pki.ca, servername: 'elsewhere.test' } });
    expect(wrongName).toMatchObject({ code: 'KEEL_JOB_QUEUE_TLS', retryable: false });
    expect(wrongName.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    await sleep(1200);
    expect(openResources().sockets).toBeLessThanOrEqual(before.sockets);
  });

  it('a server that verifies clients refuses a missing client certificate as a QueueTlsError', async () => {
    const url = guarded.url.replace('rediss://', `rediss://:${encodeURIComponent(password)}@`);
    const error = await refusal(url, { tls: { ca: pki.ca } });
    expect(error).toMatchObject({ code: 'KEEL_JOB_QUEUE_TLS', retryable: false });
    expect(error.message).toContain('requires a client certificate');
  });

  it('refuses a file path where PEM contents belong, before connecting', async () => {
    const error = await openQueue(server.url, 'q', { tls: { ca: pki.caFile } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
    expect((error as Error).message).toContain('openQueue() tls.ca must be the PEM contents');
    expect((error as Error).message).toContain('a file path?');
  });
});
