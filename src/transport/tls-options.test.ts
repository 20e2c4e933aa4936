import { describe, expect, it } from 'vitest';
import { openTransport } from './open-transport.ts';
import { resolveTls, tlsFailure } from './tls-options.ts';

const cert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const key = '-----BEGIN PRIVATE KEY-----\nMIIE-secret-key-body\n-----END PRIVATE KEY-----\n';

const refusal = (value: unknown): string => {
  try {
    resolveTls('openTransport() tls', value);
  } catch (error) {
    expect(error).toMatchObject({ name: 'InvalidArgumentError', code: 'KEEL_INVALID_ARGUMENT' });
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
};

describe('the tls option', () => {
  it('takes PEM strings or bytes and verifies servers unless told otherwise', () => {
    expect(resolveTls('t', undefined)).toBeUndefined();
    expect(resolveTls('t', {})).toEqual({ rejectUnauthorized: true });
    const settings = resolveTls('t', {
      ca: [cert, Buffer.from(cert)],
      cert,
      key: new TextEncoder().encode(key),
    });
    expect(settings?.ca).toHaveLength(2);
    expect(Buffer.isBuffer(settings?.key)).toBe(true);
    expect(resolveTls('t', { rejectUnauthorized: false, servername: 'nats.internal' })).toEqual({
      rejectUnauthorized: false,
      servername: 'nats.internal',
    });
  });

  it('refuses a file path where PEM contents belong, saying so', () => {
    const message = refusal({ ca: '/etc/keel/ca.pem' });
    expect(message).toContain('openTransport() tls.ca must be the PEM contents of a CA certificate');
    expect(message).toContain('a file path? pass readFileSync(path) instead');
  });

  it('never shows a malformed private key', () => {
    const message = refusal({ cert, key: 'secret-key-material-without-markers' });
    expect(message).toContain('tls.key must be the PEM contents of a private key');
    expect(message).not.toContain('secret-key-material');
  });

  it('refuses unknown keys, a cert without its key, and bad values, naming them', () => {
    expect(refusal({ caFile: 'ca.pem' })).toContain('unknown option "caFile"; known options: ca, cert, key');
    expect(refusal({ cert })).toContain('cert and key go together');
    expect(refusal({ ca: [] })).toContain('tls.ca must not be an empty array');
    expect(refusal({ ca: [cert, 5] })).toContain('tls.ca[1] must be PEM text');
    expect(refusal({ rejectUnauthorized: 'no' })).toContain('tls.rejectUnauthorized must be a boolean');
    expect(refusal({ servername: 'a b' })).toContain('tls.servername must be a host name');
    expect(refusal(true)).toContain('openTransport() tls must be an options object');
  });
});

describe('telling TLS failures apart', () => {
  const coded = (code: string, cause?: unknown) => Object.assign(new Error(code, { cause }), { code });

  it('recognises certificate, handshake and PEM failures, also as a cause', () => {
    for (const code of [
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
      'ERR_OSSL_PEM_NO_START_LINE',
    ]) {
      expect(tlsFailure(coded(code))?.message, code).toBe(code);
      expect(tlsFailure(new Error('wrapped', { cause: coded(code) }))?.message, code).toBe(code);
    }
  });

  it('leaves connection failures a retry may cure alone', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ERR_TLS_HANDSHAKE_TIMEOUT']) {
      expect(tlsFailure(coded(code)), code).toBeUndefined();
    }
    expect(tlsFailure('not an error')).toBeUndefined();
  });
});

describe('connection options per engine', () => {
  it('memory:// refuses the options of a network connection', async () => {
    for (const options of [{ tls: {} }, { token: 't' }, { creds: 'c' }]) {
      const error = await openTransport('memory://tls-options', options).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
      expect((error as Error).message).toMatch(/applies to .* transports only; memory:\/\/ does not use it/);
    }
  });

  it('refuses a token with spaces without showing it, and credsFile with creds', async () => {
    const spaced = await openTransport('nats://127.0.0.1:1', { token: 'my secret' }).catch((e: unknown) => e);
    expect((spaced as Error).message).toContain('token must be a non-empty string without spaces');
    expect((spaced as Error).message).not.toContain('my secret');
    const both = await openTransport('nats://127.0.0.1:1', { creds: 'x', credsFile: '/x' }).catch(
      (e: unknown) => e,
    );
    expect((both as Error).message).toContain('takes credsFile or creds, not both');
  });
});
