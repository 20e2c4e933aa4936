/**
 * Production connections to Redis: real redis-servers serving TLS with a throwaway CA (one of them
 * verifying client certificates, one requiring a password). A handshake that fails is a non-retryable
 * TransportTlsError at open, not a timeout; nothing of a failed open stays behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTransport, type Transport, type TransportOptions } from '../../src/transport/index.ts';
import { redisUrl } from './redis-env.ts';
import { captureStderr, openResources, settledWithin, sleep } from './redis-probes.ts';
import { makePki, startTlsRedis, type TestPki, type TlsEngine } from './tls-engines.ts';

// The suite starts its own servers; the shared one must exist all the same, as for every integration test.
redisUrl();

async function roundTrip(url: string, options: TransportOptions): Promise<void> {
  const transport = await openTransport(url, { connectTimeoutMs: 10_000, ...options });
  try {
    await transport.subscribe('echo', (payload) => payload).ready;
    await expect(transport.request('echo', { n: 1 }, { timeoutMs: 5000 })).resolves.toEqual({ n: 1 });
  } finally {
    await transport.close({ timeoutMs: 5000 });
  }
}

/** The open's failure, which must come well before its (long) connectTimeoutMs. */
async function refusal(url: string, options: TransportOptions = {}): Promise<Error & { code?: string }> {
  const outcome = await settledWithin(openTransport(url, { connectTimeoutMs: 30_000, ...options }), 8000);
  expect(outcome, 'the open settled long before its 30 s connectTimeoutMs').not.toBe('pending');
  if (outcome === 'pending' || !('error' in outcome)) {
    if (outcome !== 'pending') await (outcome.value as Transport).close();
    throw new Error('expected the open to fail');
  }
  return outcome.error as Error & { code?: string };
}

describe('redis transport over TLS', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let server: TlsEngine;
  let mutual: TlsEngine;
  let guarded: TlsEngine;
  const password = 'tls-p@ss';

  beforeAll(async () => {
    pki = makePki();
    server = await startTlsRedis(pki);
    mutual = await startTlsRedis(pki, { verifyClients: true });
    guarded = await startTlsRedis(pki);
    // Set once the server is up: its readiness probe pings without a password.
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
    await mutual?.stop();
    await guarded?.stop();
    pki?.remove();
  }, 30_000);

  it('connects with rediss:// and a trusted CA and carries requests', async () => {
    await roundTrip(server.url, { tls: { ca: pki.ca } });
    await roundTrip(server.url, { tls: { ca: [Buffer.from(pki.ca)] } });
  });

  it('connects with redis:// and the tls option', async () => {
    await roundTrip(server.url.replace('rediss://', 'redis://'), { tls: { ca: pki.ca } });
  });

  it('verifies the certificate against servername when the URL names the host otherwise', async () => {
    // The certificate names 127.0.0.1 and localhost; the URL's IP address is checked as localhost here.
    await roundTrip(server.url, { tls: { ca: pki.ca, servername: 'localhost' } });
  });

  it('connects with a client certificate to a server that verifies clients', async () => {
    await roundTrip(mutual.url, { tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key } });
  });

  it('a server certificate from an unknown CA fails the open at once with a non-retryable TransportTlsError', async () => {
    const stderr = captureStderr();
    const before = openResources();
    for (const options of [{}, { tls: { ca: pki.otherCa } }] as const) {
      const error = await refusal(server.url, options);
      expect(error).toMatchObject({
        name: 'TransportTlsError',
        code: 'KEEL_TRANSPORT_TLS',
        retryable: false,
      });
      expect(error.message).toMatch(
        /^TLS with rediss:\/\/127\.0\.0\.1:\d+ failed \(SELF_SIGNED_CERT_IN_CHAIN/,
      );
      expect(error.message).toContain('tls.ca');
    }
    await sleep(1200); // the clients do not go on trying
    expect(openResources().sockets).toBeLessThanOrEqual(before.sockets);
    expect(stderr.text()).not.toContain('[ioredis]');
  });

  it('a certificate that does not name the host fails with TransportTlsError naming the mismatch', async () => {
    const error = await refusal(server.url, { tls: { ca: pki.ca, servername: 'elsewhere.test' } });
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_TLS', retryable: false });
    expect(error.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('a server that verifies clients refuses no client certificate, or one it does not trust, as a TLS failure', async () => {
    const before = openResources();
    const { cert, key } = pki.strangerClient;
    for (const tls of [{ ca: pki.ca }, { ca: pki.ca, cert, key }]) {
      const error = await refusal(mutual.url, { tls });
      expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_TLS', retryable: false });
      expect(error.message).toMatch(
        /failed \(ERR_SSL_.*: the server (requires a|refused the) client certificate/,
      );
    }
    await sleep(1200);
    expect(openResources().sockets).toBeLessThanOrEqual(before.sockets);
  });

  it('takes the password over TLS, and a wrong one is a TransportAuthError that never shows it', async () => {
    const withPassword = (pass: string) =>
      guarded.url.replace('rediss://', `rediss://:${encodeURIComponent(pass)}@`);
    await roundTrip(withPassword(password), { tls: { ca: pki.ca } });
    const error = await refusal(withPassword('wrong-one'), { tls: { ca: pki.ca } });
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_AUTH', retryable: false });
    expect(error.message).toContain('WRONGPASS');
    expect(error.message).not.toContain('wrong-one');
  });

  it('NATS-only options are refused by name rather than ignored', async () => {
    for (const options of [{ token: 't0ken' }, { creds: 'x' }, { credsFile: '/x.creds' }] as const) {
      const error = await openTransport(server.url, options).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
      expect((error as Error).message).toMatch(
        /applies to nats:\/\/ transports only; rediss:\/\/ does not use it/,
      );
      expect((error as Error).message).not.toContain('t0ken');
    }
  });
});
