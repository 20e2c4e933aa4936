/** The `tls` option of openTransport and openQueue: PEM material checked once, and TLS failures told apart. */
import { checkOptions, describe, InvalidArgumentError } from '../errors.ts';
import { TransportTlsError } from './transport-errors.ts';

/** PEM text, as a string or as the bytes of a `.pem` file (a Buffer is a Uint8Array). */
export type Pem = string | Uint8Array;

/**
 * TLS settings for a connection to NATS or Redis. Certificates and keys are PEM contents, not file paths:
 * read the files yourself (`readFileSync('ca.pem')`), so a wrong path fails where it is read.
 */
export interface TlsOptions {
  /** The certificate authorities to trust (PEM). @default Node's bundled root certificates */
  readonly ca?: Pem | readonly Pem[] | undefined;
  /** The client certificate (PEM), for servers that verify clients (mutual TLS); needs `key`. */
  readonly cert?: Pem | undefined;
  /** The client certificate's private key (PEM); needs `cert`. */
  readonly key?: Pem | undefined;
  /** Refuse a server whose certificate does not verify against `ca` (or does not name the host). @default true */
  readonly rejectUnauthorized?: boolean | undefined;
  /** The host name the server's certificate must name, when it differs from the URL's host. @default the URL's host */
  readonly servername?: string | undefined;
}

/** The checked settings, in the shape Node's `tls.connect` takes (and both drivers pass on to it). */
export interface TlsSettings {
  readonly ca?: (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly rejectUnauthorized: boolean;
  readonly servername?: string;
}

const tlsKeys = ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'] as const;

/** A short account of a value that must not be shown (it may be a private key). */
function shape(value: unknown): string {
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  return describe(value);
}

/** Checks one PEM value; the message never shows its content. */
function pem(label: string, value: unknown, marker: RegExp, expected: string): string | Buffer {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value instanceof Uint8Array) text = Buffer.from(value).toString('latin1');
  else {
    throw new InvalidArgumentError(
      `${label} must be PEM text (a string or a Buffer); received ${describe(value)}`,
    );
  }
  if (!marker.test(text)) {
    const path = typeof value === 'string' && !/[\r\n]/.test(value) && value.length < 4096;
    throw new InvalidArgumentError(
      `${label} must be the PEM contents of ${expected} ("-----BEGIN ...-----"), not a file name; received ` +
        `${shape(value)} with no PEM block${path ? ' (a file path? pass readFileSync(path) instead)' : ''}`,
    );
  }
  return typeof value === 'string' ? value : Buffer.from(value);
}

const certificate = /-----BEGIN [A-Z0-9 ]*CERTIFICATE-----/;
const privateKey = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * Checks a `tls` option and returns the settings for `tls.connect`, or undefined when none was given.
 * `label` names the call (`openTransport() tls`, `openQueue() tls`).
 */
export function resolveTls(label: string, value: unknown): TlsSettings | undefined {
  if (value === undefined) return undefined;
  checkOptions(label, value, tlsKeys);
  const o = value as TlsOptions;
  const settings: {
    ca?: (string | Buffer)[];
    cert?: string | Buffer;
    key?: string | Buffer;
    rejectUnauthorized: boolean;
    servername?: string;
  } = { rejectUnauthorized: true };
  if (o.ca !== undefined) {
    const list: readonly unknown[] = Array.isArray(o.ca) ? o.ca : [o.ca];
    if (list.length === 0) throw new InvalidArgumentError(`${label}.ca must not be an empty array`);
    settings.ca = list.map((ca, i) =>
      pem(Array.isArray(o.ca) ? `${label}.ca[${i}]` : `${label}.ca`, ca, certificate, 'a CA certificate'),
    );
  }
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw new InvalidArgumentError(
      `${label}: cert and key go together (a client certificate and its private key); received only ${o.cert === undefined ? 'key' : 'cert'}`,
    );
  }
  if (o.cert !== undefined) settings.cert = pem(`${label}.cert`, o.cert, certificate, 'a certificate');
  if (o.key !== undefined) settings.key = pem(`${label}.key`, o.key, privateKey, 'a private key');
  if (o.rejectUnauthorized !== undefined) {
    if (typeof o.rejectUnauthorized !== 'boolean') {
      throw new InvalidArgumentError(
        `${label}.rejectUnauthorized must be a boolean; received ${describe(o.rejectUnauthorized)}`,
      );
    }
    settings.rejectUnauthorized = o.rejectUnauthorized;
  }
  if (o.servername !== undefined) {
    if (typeof o.servername !== 'string' || !/^[^\s/:@]+$/.test(o.servername)) {
      throw new InvalidArgumentError(
        `${label}.servername must be a host name (no spaces, "/", ":" or "@"); received ${describe(o.servername)}`,
      );
    }
    settings.servername = o.servername;
  }
  return settings;
}

/** OpenSSL's certificate-verification results, as Node reports them in `error.code`. */
const verifyCodes = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

/**
 * The TLS failure behind `error` (its cause chain followed), or undefined. A certificate that does not
 * verify, a host name it does not name, a handshake the server refuses, or PEM material Node cannot load:
 * none of these heals by trying again, unlike a refused or reset TCP connection.
 */
export function tlsFailure(error: unknown): Error | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    // A handshake that timed out may be a slow or frozen server: that one a retry may cure.
    if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') continue;
    if (verifyCodes.has(code) || /^ERR_(SSL|TLS|OSSL)_/.test(code)) return e;
  }
  return undefined;
}

/** What to check for each kind of TLS failure, for the message. */
function tlsHint(code: string): string {
  if (verifyCodes.has(code) || code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return "the server's certificate does not verify: trust the CA that signed it (tls.ca), and connect by a name the certificate carries (or set tls.servername)";
  }
  if (code.endsWith('CERTIFICATE_REQUIRED')) {
    return 'the server requires a client certificate: set tls.cert and tls.key';
  }
  if (/BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE/.test(code)) {
    return 'the server refused the client certificate: check tls.cert and tls.key, and that the server trusts their CA';
  }
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER|UNEXPECTED_EOF/.test(code)) {
    return 'the server does not speak TLS on that port';
  }
  if (code.startsWith('ERR_OSSL_')) return 'the PEM material in tls (ca, cert, key) could not be loaded';
  return 'the TLS handshake failed';
}

/**
 * `(CODE: what OpenSSL said): what to check` when TLS is what failed behind `error`, else undefined; the
 * transport's and the queue's TLS errors both carry it.
 */
export function tlsFailureDetail(error: unknown): string | undefined {
  const failure = tlsFailure(error);
  if (failure === undefined) return undefined;
  const code = String((failure as { code?: unknown }).code);
  // OpenSSL's messages may end in a line break; one line reads better in logs.
  return `(${code}: ${failure.message.replace(/\s+/g, ' ').trim()}): ${tlsHint(code)}`;
}

/** A TransportTlsError for `error` when TLS is what failed (the message names the code and what to check). */
export function tlsRefusal(error: unknown, where: string): TransportTlsError | undefined {
  const detail = tlsFailureDetail(error);
  if (detail === undefined) return undefined;
  return new TransportTlsError(`TLS with ${where} failed ${detail}`, { cause: error });
}
