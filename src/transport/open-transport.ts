/** openTransport(url): the engine is chosen by the URL's scheme through a Registry. */

import { loadDriver } from '../load-driver.ts';
import { Registry } from '../registry/index.ts';
import type { Transport, TransportOptions } from './transport.ts';
import { TransportDriverMissingError } from './transport-errors.ts';

/** Loads an engine's folder; a missing driver package becomes an error that says what to install. */
const load = <M>(scheme: string, driver: string, importer: () => Promise<M>): Promise<M> =>
  loadDriver([driver], importer, (cause) => new TransportDriverMissingError(scheme, driver, cause));

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
    return openNatsTransport(url, options);
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
    return openNatsTransport(url, options);
  })
  .register('rediss', async (url: URL, options?: TransportOptions): Promise<Transport> => {
    const { openRedisTransport } = await load('rediss', 'ioredis', () => import('./redis/redis-open.ts'));
    return openRedisTransport(url, options);
  });

/** The URL schemes openTransport understands. */
export type TransportScheme = ReturnType<typeof transports.names>[number];

/**
 * Opens a transport for `url`: `memory://` (in this process; `memory://name` shares a hub with every
 * transport of that name), `nats://host:port` or `redis://host:port[/db]`; `tls://host:port` (NATS) and
 * `rediss://host:port[/db]` connect over TLS (the `tls` option sets CAs and a client certificate; see
 * docs/transport.md, "Production connections"). Resolves once connected.
 * @throws UnknownKindError for another scheme; TransportConnectionError when the engine cannot be reached;
 * TransportDriverMissingError when the driver package is not installed; TransportAuthError when the server
 * refuses the credentials; TransportTlsError when the TLS handshake fails.
 */
export async function openTransport(url: string | URL, options?: TransportOptions): Promise<Transport> {
  const { kind, url: parsed } = transports.resolveUrl(url);
  return transports.createAsync(kind, parsed, options);
}
