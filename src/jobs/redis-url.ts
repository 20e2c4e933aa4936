/** Reads a queue's `redis://` / `rediss://` URL into connection settings, refusing what ioredis would misread. */
import { describe, InvalidArgumentError } from '../errors.ts';
import type { TlsSettings } from '../transport/tls-options.ts';

/** Where and how a queue connects to Redis; built from the URL once, before any connection. */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tls: boolean;
  /** Settings for tls.connect when `tls` (from openQueue's `tls` option); Node's root CAs when absent. */
  readonly tlsSettings?: TlsSettings | undefined;
  /** `host:port`, for messages (never the credentials). */
  readonly where: string;
}

const FORM = 'redis://[user:password@]host[:port][/db] (or rediss:// for TLS)';

function decodeCredential(part: 'user name' | 'password', value: string, where: string): string | undefined {
  if (value === '') return undefined;
  try {
    return decodeURIComponent(value);
  } catch (error) {
    // The credential itself stays out of the message: it may be most of a password.
    throw new InvalidArgumentError(
      `openQueue() url: the ${part} of the Redis URL for ${where} has a bad percent-escape ` +
        '(a "%" must be followed by two hex digits; write a literal "%" as "%25")',
      { cause: error },
    );
  }
}

/**
 * Parses a Redis URL. The database is the path: empty or `/` for 0, else `/` and decimal digits; the server
 * decides at open whether it has that database. A query or fragment is refused: ioredis would read a query
 * as client options, silently.
 */
export function parseRedisUrl(url: URL): RedisTarget {
  // No silent localhost: a URL built from an empty setting (`redis://${host}`) must not reach another server.
  if (url.hostname === '') {
    throw new InvalidArgumentError(
      `openQueue() url names no host (received "${url.protocol}//..."); the form is ${FORM}`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || '6379');
  const where = `${url.hostname}:${port}`;
  if (url.search !== '' || url.hash !== '') {
    throw new InvalidArgumentError(
      `openQueue() url for ${where} takes no query or fragment; the form is ${FORM}`,
    );
  }
  let db = 0;
  if (url.pathname !== '' && url.pathname !== '/') {
    const digits = /^\/(\d+)$/.exec(url.pathname)?.[1];
    db = digits === undefined ? Number.NaN : Number(digits);
    if (!Number.isSafeInteger(db)) {
      throw new InvalidArgumentError(
        `openQueue() url for ${where}: the database must be a number (0, 1, ...) after "/"; received ` +
          `${describe(url.pathname.slice(1))}; the form is ${FORM}`,
      );
    }
  }
  return {
    host,
    port,
    db,
    username: decodeCredential('user name', url.username, where),
    password: decodeCredential('password', url.password, where),
    tls: url.protocol === 'rediss:',
    where,
  };
}

/** The target with openQueue's `tls` option applied: given settings turn TLS on, for redis:// too. */
export function withTls(target: RedisTarget, tls: TlsSettings | undefined): RedisTarget {
  return tls === undefined ? target : { ...target, tls: true, tlsSettings: tls };
}
