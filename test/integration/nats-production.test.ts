/**
 * Production connections to NATS: real nats-servers that require TLS (with a throwaway CA), user and
 * password, a token, or credentials signed by an operator. Refusals no retry cures fail the open at once
 * with a non-retryable error naming TLS or the credentials, never a timeout, and never echo a secret.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, startNats } from '../../scripts/engines.ts';
import { openTransport, type Transport, type TransportOptions } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';
import { makeOperator, type NatsOperator } from './nats-jwt.ts';
import { captureStderr, openResources, settledWithin, sleep } from './redis-probes.ts';
import { makePki, startTlsNats, type TestPki, type TlsEngine } from './tls-engines.ts';

// The suites start their own servers; the shared one must exist all the same, as for every integration test.
engineUrl('KEEL_NATS_URL');

/** Opens, proves the connection carries a request both ways, and closes. */
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

describe('nats transport over TLS', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let server: TlsEngine;
  let mutual: TlsEngine;

  beforeAll(async () => {
    pki = makePki();
    server = await startTlsNats(pki);
    mutual = await startTlsNats(pki, { verifyClients: true });
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
    await mutual?.stop();
    pki?.remove();
  }, 30_000);

  it('connects with tls:// and a trusted CA, as PEM text or bytes, and carries requests', async () => {
    await roundTrip(server.url, { tls: { ca: pki.ca } });
    await roundTrip(server.url, { tls: { ca: [Buffer.from(pki.ca)] } });
  });

  it('connects with nats:// and the tls option', async () => {
    await roundTrip(server.url.replace('tls://', 'nats://'), { tls: { ca: pki.ca } });
  });

  it('verifies the certificate against servername when the URL names the host otherwise', async () => {
    // The certificate names 127.0.0.1 and localhost; the URL's IP address is checked as localhost here.
    await roundTrip(server.url, { tls: { ca: pki.ca, servername: 'localhost' } });
  });

  it('connects with a client certificate to a server that verifies clients', async () => {
    await roundTrip(mutual.url, { tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key } });
  });

  it('a server certificate from an unknown CA fails the open at once with a non-retryable TransportTlsError', async () => {
    const before = openResources();
    for (const options of [{}, { tls: { ca: pki.otherCa } }] as const) {
      const error = await refusal(server.url, options);
      expect(error).toMatchObject({
        name: 'TransportTlsError',
        code: 'KEEL_TRANSPORT_TLS',
        retryable: false,
      });
      expect(error.message).toMatch(
        /^TLS with tls:\/\/127\.0\.0\.1:\d+ failed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
      );
      expect(error.message).toContain('tls.ca');
    }
    // A nats:// URL to a server that requires TLS is upgraded, and verified all the same.
    const upgraded = await refusal(server.url.replace('tls://', 'nats://'));
    expect(upgraded).toMatchObject({ code: 'KEEL_TRANSPORT_TLS', retryable: false });
    await sleep(300);
    expect(openResources().sockets).toBeLessThanOrEqual(before.sockets);
  });

  it('a certificate that does not name the host fails with TransportTlsError naming the mismatch', async () => {
    const error = await refusal(server.url, { tls: { ca: pki.ca, servername: 'elsewhere.test' } });
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_TLS', retryable: false });
    expect(error.message).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(error.message).toContain('elsewhere.test');
  });

  it('a server that verifies clients refuses a connection without a client certificate, as a TLS failure', async () => {
    const before = openResources();
    const error = await refusal(mutual.url, { tls: { ca: pki.ca } });
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_TLS', retryable: false });
    expect(error.message).toContain('verifies client certificates');
    await sleep(300);
    expect(openResources().sockets).toBeLessThanOrEqual(before.sockets);
  });

  it('a client certificate the server does not trust fails the open with a TransportTlsError, not a timeout', async () => {
    const before = openResources();
    const { cert, key } = pki.strangerClient;
    const error = await refusal(mutual.url, { tls: { ca: pki.ca, cert, key } });
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_TLS', retryable: false });
    expect(error.message).toMatch(/^TLS with tls:\/\/127\.0\.0\.1:\d+ failed \(ERR_SSL_/);
    expect(error.message).toContain('client certificate');
    await sleep(300);
    expect(openResources().sockets).toBeLessThanOrEqual(before.sockets);
  });

  it('asking for TLS of a server that does not offer it is a TransportTlsError, not a plain connection', async () => {
    const error = await refusal(engineUrl('KEEL_NATS_URL').replace('nats://', 'tls://'));
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_TLS', retryable: false });
    expect(error.message).toContain('does not offer TLS');
  });
});

describe('nats transport with user and password, and tokens', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let users: TlsEngine;
  let tokens: Engine;
  const password = 'p@ss/w:rd%';
  const token = 's3cret-token';

  beforeAll(async () => {
    pki = makePki();
    users = await startTlsNats(pki, { args: ['--user', 'keel', '--pass', password] });
    tokens = await startNats({ args: ['--auth', token] });
  }, 30_000);
  afterAll(async () => {
    await users?.stop();
    await tokens?.stop();
    pki?.remove();
  }, 30_000);

  const withUser = (user: string, pass: string) =>
    users.url.replace('tls://', `tls://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@`);

  it('connects over TLS with a percent-encoded user and password in the URL', async () => {
    await roundTrip(withUser('keel', password), { tls: { ca: pki.ca } });
  });

  it('a wrong password fails the open at once with a non-retryable TransportAuthError that never shows it', async () => {
    const stderr = captureStderr();
    const wrong = 'not-the-password';
    const error = await refusal(withUser('keel', wrong), { tls: { ca: pki.ca } });
    expect(error).toMatchObject({
      name: 'TransportAuthError',
      code: 'KEEL_TRANSPORT_AUTH',
      retryable: false,
    });
    expect(error.message).toContain('refused the user name and password in the URL');
    expect(error.message).toContain('Authorization Violation');
    expect(error.message).not.toContain(wrong);
    expect(stderr.text()).not.toContain(wrong);
  });

  it('no credentials where the server requires them is a TransportAuthError saying so', async () => {
    const error = await refusal(users.url, { tls: { ca: pki.ca } });
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_AUTH', retryable: false });
    expect(error.message).toContain('requires credentials and none were given');
  });

  it('a bad % escape in the URL credentials is an InvalidArgumentError that does not echo them', async () => {
    for (const bad of [`nats://us%zzer:pw@127.0.0.1:${tokens.port}`, `nats://user:p%zzword@127.0.0.1:1`]) {
      const error = await openTransport(bad).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'InvalidArgumentError', code: 'KEEL_INVALID_ARGUMENT' });
      expect((error as Error).message).toMatch(/percent-encoding/);
      expect((error as Error).message).not.toMatch(/zz/);
    }
  });

  it('never shows the password or token of a URL it refuses', async () => {
    const error = await openTransport(`nats://keel:${password}@127.0.0.1:${tokens.port}/x`).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
    expect((error as Error).message).not.toContain(password);
    expect((error as Error).message).not.toContain(encodeURIComponent(password));
    const tokenError = await openTransport(`nats://${token}@127.0.0.1:${tokens.port}/x`).catch(
      (e: unknown) => e,
    );
    expect(tokenError).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
    expect((tokenError as Error).message).not.toContain(token);
  });

  it('connects with a token in the URL or in the token option', async () => {
    await roundTrip(tokens.url.replace('nats://', `nats://${token}@`), {});
    await roundTrip(tokens.url, { token });
  });

  it('a wrong token is a TransportAuthError that does not show it', async () => {
    const error = await refusal(tokens.url, { token: 'wrong-token' });
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_AUTH', retryable: false });
    expect(error.message).toContain('refused the token option');
    expect(error.message).not.toContain('wrong-token');
  });

  it('a token in both the URL and the option is refused before connecting', async () => {
    const error = await openTransport(tokens.url.replace('nats://', `nats://${token}@`), { token }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
    expect((error as Error).message).toContain('not both');
    expect((error as Error).message).not.toContain(token);
  });
});

describe('nats transport with credentials files (operator mode)', { timeout: 60_000 }, () => {
  let operator: NatsOperator;
  let dir = '';
  let engine: Engine;

  beforeAll(async () => {
    operator = makeOperator();
    dir = mkdtempSync(join(tmpdir(), 'keel-nats-operator-'));
    const config = join(dir, 'nats.conf');
    writeFileSync(config, operator.serverConfig);
    engine = await startNats({ args: ['-c', config] });
  }, 30_000);
  afterAll(async () => {
    await engine?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('connects with a credentials file the operator signed, by path or by contents', async () => {
    const user = operator.user('keel-service');
    const file = join(dir, 'keel-service.creds');
    writeFileSync(file, user.creds, { mode: 0o600 });
    await roundTrip(engine.url, { credsFile: file });
    await roundTrip(engine.url, { creds: user.creds });
    await roundTrip(engine.url, { creds: new TextEncoder().encode(user.creds) });
  });

  it('credentials the server does not trust, or that expired, fail with a TransportAuthError', async () => {
    for (const creds of [operator.stranger('eve').creds, operator.user('old', { expiresInS: -60 }).creds]) {
      const error = await refusal(engine.url, { creds });
      expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_AUTH', retryable: false });
      expect(error.message).toContain('refused the credentials (creds/credsFile)');
      expect(error.message).not.toMatch(/SU[A-Z2-7]{20}/); // no seed
    }
    const none = await refusal(engine.url);
    expect(none).toMatchObject({ code: 'KEEL_TRANSPORT_AUTH', retryable: false });
  });

  it('a credentials file that is missing or malformed is refused before connecting, without its contents', async () => {
    const missing = await openTransport(engine.url, { credsFile: join(dir, 'absent.creds') }).catch(
      (e: unknown) => e,
    );
    expect(missing).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
    expect((missing as Error).message).toMatch(/credsFile ".*absent\.creds" cannot be read: ENOENT/);
    const seed = operator.user('x').seed;
    const malformed = await openTransport(engine.url, { creds: `just a seed ${seed}` }).catch(
      (e: unknown) => e,
    );
    expect(malformed).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
    expect((malformed as Error).message).toContain('must be a NATS credentials file');
    expect((malformed as Error).message).not.toContain(seed);
  });
});
