/** The options that secure a connection (tls, token, credsFile, creds): checked once, per engine. */
import { readFileSync } from 'node:fs';
import { describe, InvalidArgumentError } from '../errors.ts';
import { resolveTls, type TlsSettings } from './tls-options.ts';
import type { TransportOptions } from './transport.ts';

/** What a connection uses to prove who it is and whom it talks to. */
export interface ConnectionSettings {
  readonly tls: TlsSettings | undefined;
  readonly token: string | undefined;
  /** The contents of a NATS credentials file (user JWT and nkey seed). */
  readonly creds: Uint8Array | undefined;
}

/** The options each engine understands, besides those every engine takes. */
const engineKeys = {
  memory: [],
  redis: ['tls'],
  nats: ['tls', 'token', 'credsFile', 'creds'],
} as const;

const allKeys = ['tls', 'token', 'credsFile', 'creds'] as const;

const credsJwt = /-----BEGIN NATS USER JWT-----\s*\S+\s*------END NATS USER JWT------/;
const credsSeed = /-----BEGIN USER NKEY SEED-----\s*SU[A-Z2-7]+\s*------END USER NKEY SEED------/;

/** Checks credentials-file contents without ever showing them (they hold a private seed). */
function checkCreds(label: string, bytes: Uint8Array): Uint8Array {
  const text = Buffer.from(bytes).toString('utf8');
  if (!credsJwt.test(text) || !credsSeed.test(text)) {
    throw new InvalidArgumentError(
      `${label} must be a NATS credentials file: a "-----BEGIN NATS USER JWT-----" block and a ` +
        `"-----BEGIN USER NKEY SEED-----" block (as \`nsc generate creds\` writes); received ${bytes.byteLength} bytes without them`,
    );
  }
  return bytes;
}

/**
 * Checks the connection options for an engine: one it does not use is refused by name (a token given to
 * Redis would otherwise be ignored, and the connection made without it).
 */
export function resolveConnection(
  kind: keyof typeof engineKeys,
  url: URL,
  options: TransportOptions | undefined,
): ConnectionSettings {
  const known: readonly string[] = engineKeys[kind];
  for (const key of allKeys) {
    if (options?.[key] !== undefined && !known.includes(key)) {
      const engines = Object.entries(engineKeys)
        .filter(([, keys]) => (keys as readonly string[]).includes(key))
        .map(([name]) => `${name}://`)
        .join(' and ');
      throw new InvalidArgumentError(
        `openTransport() ${key} applies to ${engines} transports only; ${url.protocol}// does not use it`,
      );
    }
  }
  const tls = resolveTls('openTransport() tls', options?.tls);
  const token = options?.token;
  if (token !== undefined && (typeof token !== 'string' || token === '' || /\s/.test(token))) {
    // A malformed token is shown only by its shape: it is a secret.
    throw new InvalidArgumentError(
      `openTransport() token must be a non-empty string without spaces; received ${typeof token === 'string' ? `a string of ${token.length} characters` : describe(token)}`,
    );
  }
  if (options?.credsFile !== undefined && options.creds !== undefined) {
    throw new InvalidArgumentError('openTransport() takes credsFile or creds, not both');
  }
  let creds: Uint8Array | undefined;
  if (options?.credsFile !== undefined) {
    const path = options.credsFile;
    if (typeof path !== 'string' || path === '') {
      throw new InvalidArgumentError(
        `openTransport() credsFile must be the path of a credentials file; received ${describe(path)}`,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new InvalidArgumentError(
        `openTransport() credsFile ${describe(path)} cannot be read: ${(error as Error).message}`,
        { cause: error },
      );
    }
    creds = checkCreds(`openTransport() credsFile ${describe(path)}`, bytes);
  } else if (options?.creds !== undefined) {
    const value = options.creds;
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new InvalidArgumentError(
        `openTransport() creds must be the contents of a credentials file (a string or bytes); received ${describe(value)}`,
      );
    }
    creds = checkCreds(
      'openTransport() creds',
      typeof value === 'string' ? new TextEncoder().encode(value) : value,
    );
  }
  if (token !== undefined && creds !== undefined) {
    throw new InvalidArgumentError(
      'openTransport() takes a token or credentials (creds, credsFile), not both',
    );
  }
  return { tls, token, creds };
}

/**
 * The URL as messages may show it: the password, if any, replaced; with `userIsToken` (NATS, where a user
 * name alone is a token) a lone user name too.
 */
export function shownUrl(url: URL, userIsToken = false): string {
  const hideUser = userIsToken && url.password === '' && url.username !== '';
  if (url.password === '' && !hideUser) return url.href;
  const copy = new URL(url.href);
  if (hideUser) copy.username = '***';
  else copy.password = '***';
  return copy.href;
}

/** Percent-decodes a URL's user name or password; a bad `%` escape is the caller's mistake. */
export function urlCredential(
  url: URL,
  part: 'username' | 'password',
  engine: string,
  server: string,
): string {
  try {
    return decodeURIComponent(url[part]);
  } catch (error) {
    // Never echo the value: it may be (part of) a password or a token.
    throw new InvalidArgumentError(
      `The ${part === 'username' ? 'user name' : 'password'} in the ${engine} transport URL for ${server} is not ` +
        'valid percent-encoding: a "%" must be followed by two hex digits (write a literal "%" as "%25")',
      { cause: error },
    );
  }
}
