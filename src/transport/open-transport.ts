/** openTransport(url): the engine is chosen by the URL's scheme through a Registry. */
import { Registry } from '../registry/index.ts';
import type { Transport, TransportOptions } from './transport.ts';
import { TransportDriverMissingError } from './transport-errors.ts';

/** Loads a driver folder; a missing driver package becomes an error that says what to install. */
async function load<M>(scheme: string, driver: string, importer: () => Promise<M>): Promise<M> {
  try {
    return await importer();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(`'${driver}'`)) {
      throw new TransportDriverMissingError(scheme, driver, error);
    }
    throw error;
  }
}

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
    const { openRedisTransport } = await load('redis', 'ioredis', () => import('./redis/redis-transport.ts'));
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
