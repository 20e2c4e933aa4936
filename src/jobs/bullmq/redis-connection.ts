/** Connects to Redis for a queue and refuses a server that could evict the queue's keys. */
import { Redis } from 'ioredis';
import { settleWithin } from '../../abort.ts';
import { EvictionPolicyError, QueueConnectionError } from '../errors.ts';

/** `host:port` of a Redis URL, for messages (never the password). */
export function where(url: URL): string {
  return `${url.hostname || '127.0.0.1'}:${url.port || '6379'}`;
}

/**
 * Opens a client and waits until Redis answers, up to `timeoutMs`. Commands wait through later outages
 * (`maxRetriesPerRequest: null`, as BullMQ workers need), and ioredis reconnects on its own.
 */
export async function connect(url: URL, timeoutMs: number, signal?: AbortSignal): Promise<Redis> {
  const client = new Redis(url.href, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    // Reconnect quickly at first, then every 2 s at most, for as long as the client is open.
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2000),
  });
  let lastError: unknown;
  const onError = (error: unknown) => {
    lastError = error;
  };
  client.on('error', onError);
  const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
  client.connect().catch(onError);
  const ok = await settleWithin(ready, timeoutMs, signal);
  if (!ok) {
    client.disconnect();
    client.off('error', onError);
    signal?.throwIfAborted();
    const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
    throw new QueueConnectionError(`Could not reach Redis at ${where(url)} within ${timeoutMs} ms${detail}`, {
      cause: lastError,
    });
  }
  try {
    await checkEvictionPolicy(client, url);
  } catch (error) {
    client.disconnect();
    client.off('error', onError);
    throw error;
  }
  return client;
}

/**
 * A queue's keys must never be evicted: under any other policy Redis may drop a waiting job, a lock or an
 * id counter when memory runs short, and the loss is silent. Read from INFO, which managed services that
 * disable CONFIG still answer.
 */
export async function checkEvictionPolicy(client: Redis, url: URL): Promise<void> {
  let info: string;
  try {
    info = await client.info('memory');
  } catch (error) {
    throw new QueueConnectionError(`Redis at ${where(url)} did not answer INFO memory: ${String(error)}`, {
      cause: error,
    });
  }
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy !== undefined && policy !== 'noeviction') throw new EvictionPolicyError(where(url), policy);
}
