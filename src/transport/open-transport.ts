/** openTransport(url): the engine is chosen by the URL's scheme through a Registry. */

import { describe, InvalidArgumentError } from '../errors.ts';
import { loadDriver } from '../load-driver.ts';
import { Registry } from '../registry/index.ts';
import type { Transport, TransportOptions } from './transport.ts';
import { TransportDriverMissingError } from './transport-errors.ts';

/** Loads an engine's folder; a missing driver package becomes an error that says what to install. */
const load = <M>(scheme: string, driver: string, importer: () => Promise<M>): Promise<M> =>
  loadDriver([driver], importer, (cause) => new TransportDriverMissingError(scheme, driver, cause));

/**
 * The other servers of a NATS cluster URL (`nats://h1:4222,h2:4222`, as the NATS tools spell it), keyed by
 * the first server's URL, which is the one the registry resolves.
 */
const clusterSeeds = new WeakMap<URL, readonly URL[]>();

const transports = new Registry('transport')
  .register('memory', async (url: URL, options?: TransportOptions): Promise<Transport> => {
    const { openMemoryTransport } = await import('./memory/memory-transport.ts');
    return openMemoryTransport(url, options);
  })
  .register('nats', async (url: URL, options?: TransportOptions): Promise<Transport> => {
    const { openNatsTransport } = await load(
      'nats',
      '@nats-io/transport-node',
      () => import('./nats/nats-transport.ts'),
    );
    return openNatsTransport(url, options, clusterSeeds.get(url));
  })
  .register('redis', async (url: URL, options?: TransportOptions): Promise<Transport> => {
    const { openRedisTransport } = await load('redis', 'ioredis', () => import('./redis/redis-open.ts'));
    return openRedisTransport(url, options);
  })
  // TLS URLs: NATS's own spelling (as its tools write it) and Redis's; the same engines, over TLS.
  .register('tls', async (url: URL, options?: TransportOptions): Promise<Transport> => {
    const { openNatsTransport } = await load(
      'tls',
      '@nats-io/transport-node',
      () => import('./nats/nats-transport.ts'),
    );
    return openNatsTransport(url, options, clusterSeeds.get(url));
  })
  .register('rediss', async (url: URL, options?: TransportOptions): Promise<Transport> => {
    const { openRedisTransport } = await load('rediss', 'ioredis', () => import('./redis/redis-open.ts'));
    return openRedisTransport(url, options);
  });

/** The URL schemes openTransport understands. */
export type TransportScheme = ReturnType<typeof transports.names>[number];

/**
 * Opens a transport for `url`: `memory://` (in this process; `memory://name` shares a hub with every
 * transport of that name), `nats://host:port` (a cluster: `nats://h1:4222,nats://h2:4222`; a client
 * connects to one and moves to another when it goes away) or `redis://host:port[/db]`; `tls://host:port` (NATS) and
 * `rediss://host:port[/db]` connect over TLS (the `tls` option sets CAs and a client certificate; see
 * docs/transport.md, "Production connections"). Resolves once connected.
 * @throws UnknownKindError for another scheme; TransportConnectionError when the engine cannot be reached;
 * TransportDriverMissingError when the driver package is not installed; TransportAuthError when the server
 * refuses the credentials; TransportTlsError when the TLS handshake fails.
 */
export async function openTransport(url: string | URL, options?: TransportOptions): Promise<Transport> {
  if (typeof url === 'string' && url.includes(',') && /^(nats|tls):\/\//.test(url)) {
    const [first, ...rest] = clusterUrls(url);
    clusterSeeds.set(first as URL, rest);
    return transports.createAsync(first?.protocol === 'tls:' ? 'tls' : 'nats', first as URL, options);
  }
  const { kind, url: parsed } = transports.resolveUrl(url);
  return transports.createAsync(kind, parsed, options);
}

/**
 * Splits a NATS cluster URL: `nats://h1:4222,nats://h2:4222` or `nats://h1:4222,h2:4222`. Every server
 * uses the first one's scheme; credentials, if any, come from the first.
 */
function clusterUrls(url: string): URL[] {
  const scheme = url.slice(0, url.indexOf('://'));
  return url.split(',').map((part, i) => {
    const text = part.trim().includes('://') ? part.trim() : `${scheme}://${part.trim()}`;
    if (!URL.canParse(text) || !text.startsWith(`${scheme}://`)) {
      throw new InvalidArgumentError(
        `A NATS cluster URL lists servers of one scheme, separated by commas (nats://h1:4222,nats://h2:4222); server ${i + 1} is ${describe(part)}`,
      );
    }
    return new URL(text);
  });
}
