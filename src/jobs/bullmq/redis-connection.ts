/** Connects to Redis for a queue, refusing a server that could evict the queue's keys; lets go within bounds. */
import { Redis } from 'ioredis';
import { settleWithin } from '../../abort.ts';
import { InvalidArgumentError } from '../../errors.ts';
import { tlsFailureDetail } from '../../transport/tls-options.ts';
import {
  EvictionPolicyError,
  QueueAuthenticationError,
  QueueConnectionError,
  QueueTlsError,
} from '../errors.ts';
import type { RedisTarget } from '../redis-url.ts';

/** How long a closing connection gets for each step of letting go (QUIT answered, socket closed). */
export const RELEASE_MS = 1000;

/** Redis refused the credentials: retrying with the same ones cannot help. */
function isAuthError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return /^(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i.test(message);
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A new client for `target`, not yet connected. Until it is first ready it makes one attempt (no
 * reconnect): `connect` retries with fresh clients, so a client it gives up on ends at once. Once ready,
 * commands wait through later outages (`maxRetriesPerRequest: null`, as BullMQ workers need) and ioredis
 * reconnects on its own; callers bound each wait themselves. An `error` listener stays for the client's
 * whole life, so ioredis never prints "Unhandled error event"; BullMQ forwards the errors to the queue's
 * events while it uses the client.
 */
function client(target: RedisTarget): Redis {
  let opened = false;
  const redis = new Redis({
    host: target.host,
    port: target.port,
    db: target.db,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    // ioredis hands these to tls.connect; a copy per client, as ioredis keeps its own.
    ...(target.tls ? { tls: { rejectUnauthorized: true, ...target.tlsSettings } } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: null,
    // Reconnect quickly at first, then every 2 s at most, for as long as the client is open.
    retryStrategy: (times) => (opened ? Math.min(50 * 2 ** times, 2000) : null),
    // A socket that does not close (a frozen server) is destroyed after this, so no timer outlives close.
    disconnectTimeout: RELEASE_MS / 2,
  });
  redis.once('ready', () => {
    opened = true;
  });
  redis.on('error', () => {});
  return redis;
}

/** Nothing listens at the address: waiting cannot help within one open, so it fails at once. */
const isRefused = (error: unknown) => (error as { code?: unknown } | null)?.code === 'ECONNREFUSED';

/**
 * Opens a client and waits, up to `timeoutMs` in all, until Redis answers, has database `target.db`, and
 * keeps the queue's keys (no eviction). Wrong credentials, a failed TLS handshake and a refused connection
 * fail at once, without waiting; an abort of `signal` ends the wait at once.
 */
export async function connect(target: RedisTarget, timeoutMs: number, signal?: AbortSignal): Promise<Redis> {
  signal?.throwIfAborted();
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  const final = Promise.withResolvers<never>();
  final.promise.catch(() => {});
  let redis = client(target);
  let retry: ReturnType<typeof setTimeout> | undefined;
  /** Set once the open settled: a client ending after that is not replaced. */
  let settled = false;
  const onError = (error: unknown) => {
    lastError = error;
    if (isAuthError(error)) final.reject(new QueueAuthenticationError(target.where, error));
    // A handshake that failed fails the same way on every reconnect: say so now, not at the deadline.
    const tls = target.tls ? tlsFailureDetail(error) : undefined;
    if (tls !== undefined) final.reject(new QueueTlsError(target.where, tls, error));
    if (isRefused(error)) final.reject(unreachable(target, timeoutMs, error));
  };
  // One attempt per client; a client that ended before it was ready is replaced after a short pause.
  const attempt = (tries: number): Promise<void> => {
    const current = redis;
    current.on('error', onError);
    const ready = new Promise<void>((resolve, reject) => {
      current.once('ready', () => resolve());
      current.once('end', () => reject(lastError));
    });
    current.connect().catch(onError);
    return ready.catch(async () => {
      current.off('error', onError);
      if (settled) return new Promise<void>(() => {});
      const pause = Math.min(50 * 2 ** tries, 1000, Math.max(0, deadline - Date.now()));
      await new Promise((resolve) => {
        retry = setTimeout(resolve, pause);
      });
      if (settled || Date.now() >= deadline) return new Promise<void>(() => {});
      redis = client(target);
      return attempt(tries + 1);
    });
  };
  const opening = Promise.race([attempt(0), final.promise]).then(() => checkServer(redis, target));
  opening.catch(() => {});
  try {
    if (!(await settleWithin(opening, Math.max(0, deadline - Date.now()), signal))) {
      signal?.throwIfAborted();
      throw unreachable(target, timeoutMs, lastError);
    }
    await opening;
  } catch (error) {
    settled = true;
    clearTimeout(retry);
    await dropOpening(redis);
    throw error;
  } finally {
    settled = true;
    redis.off('error', onError);
  }
  return redis;
}

function unreachable(target: RedisTarget, timeoutMs: number, lastError: unknown): QueueConnectionError {
  const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
  return new QueueConnectionError(
    `Could not reach Redis at ${target.where} within ${timeoutMs} ms${detail}`,
    {
      cause: lastError,
    },
  );
}

/**
 * Lets go of a client that was opening: a ready one QUITs as any other; one still connecting has its
 * socket destroyed, which ends it at once (no server answer to wait for, no timer left armed).
 */
async function dropOpening(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return releaseClient(redis);
  if (redis.status === 'end') return;
  redis.disconnect();
  redis.stream?.destroy();
  await ended(redis, RELEASE_MS);
}

async function checkServer(redis: Redis, target: RedisTarget): Promise<void> {
  if (target.db !== 0) {
    // ioredis selects the database itself, but only reports a refusal as an `error` event and goes on in
    // database 0; asking again here turns an index the server lacks into a refusal to open.
    try {
      await redis.select(target.db);
    } catch (error) {
      if (/DB index is out of range|invalid DB index/i.test(messageOf(error))) {
        throw new InvalidArgumentError(
          `openQueue() url: Redis at ${target.where} has no database ${target.db} (it answered ` +
            `"${messageOf(error)}"); use an index below the server's \`databases\` setting (16 by default)`,
          { cause: error },
        );
      }
      throw new QueueConnectionError(
        `Redis at ${target.where} refused SELECT ${target.db}: ${messageOf(error)}`,
        { cause: error },
      );
    }
  }
  await checkEvictionPolicy(redis, target.where);
}

/**
 * A queue's keys must never be evicted: under any other policy Redis may drop a waiting job, a lock or an
 * id counter when memory runs short, and the loss is silent. Read from INFO, which managed services that
 * disable CONFIG still answer.
 */
export async function checkEvictionPolicy(redis: Redis, where: string): Promise<void> {
  let info: string;
  try {
    info = await redis.info('memory');
  } catch (error) {
    throw new QueueConnectionError(`Redis at ${where} did not answer INFO memory: ${String(error)}`, {
      cause: error,
    });
  }
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy !== undefined && policy !== 'noeviction') throw new EvictionPolicyError(where, policy);
}

/** Resolves once the client's socket is gone (or at once when it already is), waiting at most `ms`. */
export async function ended(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'end') return;
  await settleWithin(new Promise((resolve) => redis.once('end', resolve)), Math.max(0, ms));
}

/**
 * Lets go of a client within `budgetMs`: QUIT when Redis answers within half of it, otherwise (down, frozen)
 * drop the connection; then wait for the socket to close, so no socket or timer outlives the caller.
 */
export async function releaseClient(redis: Redis, budgetMs = 2 * RELEASE_MS): Promise<void> {
  const deadline = Date.now() + budgetMs;
  if (redis.status === 'end') return;
  if (redis.status === 'ready') {
    const quitting = redis.quit().catch(() => {});
    if (await settleWithin(quitting, budgetMs / 2)) return ended(redis, deadline - Date.now());
  }
  redis.disconnect();
  await ended(redis, deadline - Date.now());
}
