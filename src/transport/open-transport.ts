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
  });

/** The URL schemes openTransport understands. */
export type TransportScheme = ReturnType<typeof transports.names>[number];

/**
 * Opens a transport for `url`: `memory://` (in this process; `memory://name` shares a hub with every
 * transport of that name), `nats://host:port` or `redis://host:port[/db]`. Resolves once connected.
 * @throws UnknownKindError for another scheme; TransportConnectionError when the engine cannot be reached;
 * TransportDriverMissingError when the driver package is not installed.
 */
export async function openTransport(url: string | URL, options?: TransportOptions): Promise<Transport> {
  const { kind, url: parsed } = transports.resolveUrl(url);
  return transports.createAsync(kind, parsed, options);
}
