/** Opening a Redis transport: the URL's settings, and one deadline over the whole open. */
import { Redis } from 'ioredis';
import { clearLongTimeout, MAX_TIMER_MS, onAbort, setLongTimeout, settleWithin } from '../../abort.ts';
import { reportUnhandled } from '../../diagnostics.ts';
import { describe, InvalidArgumentError, KeelError } from '../../errors.ts';
import { resolveConnection, shownUrl, urlCredential } from '../connection-options.ts';
import { type TlsSettings, tlsRefusal } from '../tls-options.ts';
import type { TransportErrorHandler, TransportOptions } from '../transport.ts';
import { messageOf, TransportConnectionError } from '../transport-errors.ts';
import { type ResolvedOptions, resolveOptions } from '../transport-options.ts';
import { credentialRefusal } from './redis-refusals.ts';
import { RedisTransport, UNANSWERED_MS } from './redis-transport.ts';

/** The ioredis settings shared by both connections, from the URL and the options. */
function redisSettings(url: URL, options: ResolvedOptions, server: string, tls: TlsSettings | undefined) {
  if (url.search) {
    throw new InvalidArgumentError(
      `A Redis transport URL takes no query; received ${describe(shownUrl(url))}`,
    );
  }
  const db = url.pathname === '' || url.pathname === '/' ? 0 : Number(url.pathname.slice(1));
  // Without a host, ioredis would quietly dial 127.0.0.1:6379.
  if (!url.hostname || !Number.isInteger(db) || db < 0) {
    throw new InvalidArgumentError(
      `A Redis transport URL is redis://[user:pass@]host[:port][/db]; received ${describe(shownUrl(url))}`,
    );
  }
  const username = urlCredential(url, 'username', 'Redis', server);
  const password = urlCredential(url, 'password', 'Redis', server);
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || '6379'),
    db,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    // ioredis hands these to tls.connect as they are; a fresh object per client, as it keeps its own.
    ...(tls === undefined ? {} : { tls: { ...tls } }),
    lazyConnect: true,
    // Bounds each TCP connect, the reconnects' included. The whole open has its own deadline (a
    // setLongTimeout), so a value past what a platform timer holds is only clamped here, never wrapped.
    connectTimeout: Math.min(options.connectTimeoutMs, MAX_TIMER_MS),
    // A server that takes a command and stays silent this long (frozen, or not Redis at all) is treated as
    // lost: the socket is dropped and the connection re-opened, as after any other outage.
    socketTimeout: UNANSWERED_MS,
    ...(options.name === undefined ? {} : { connectionName: options.name }),
    // Reconnect forever, backing off to one attempt a second.
    retryStrategy: (times: number) => Math.min(100 * times, 1000),
    // Commands queued while the connection is down fail after five reconnect attempts, so the queue of a
    // long outage stays short; each publish has its own, shorter, bound (PUBLISH_TIMEOUT_MS).
    maxRetriesPerRequest: 5,
    // How long a closing socket may take before it is destroyed.
    disconnectTimeout: 500,
    autoResubscribe: true,
    // Pub/sub commands are served while Redis loads its data, and a user limited by ACL to pub/sub may not
    // run INFO: the ready check would only cost a round trip, or a warning on stderr.
    enableReadyCheck: false,
    // CLIENT SETINFO exists from Redis 7.2; older servers (and narrow ACL users) answer it with an error.
    disableClientInfo: true,
  };
}

/** Drops a client now, and resolves once its socket is gone (or at once when it has none). */
function drop(client: Redis): Promise<void> {
  if (client.status === 'end') return Promise.resolve();
  // Between two reconnect attempts there is no socket, and ioredis announces no 'end'.
  const hasSocket = client.status !== 'reconnecting' && client.status !== 'wait';
  const ended = hasSocket ? new Promise<void>((resolve) => client.once('end', resolve)) : Promise.resolve();
  client.disconnect();
  // A peer that never answers would keep an ended socket half-open until ioredis's disconnectTimeout.
  (client.stream as { destroy?: () => void } | undefined)?.destroy?.();
  return ended;
}

/**
 * Connects to `redis://[user:pass@]host[:port][/db]` (`rediss://` or the `tls` option for TLS) with two connections (Redis needs one dedicated to
 * subscriptions). `connectTimeoutMs` bounds the whole open: both TCP connects, authentication, SELECT and
 * the subscription to the reply inbox. Reconnects without limit afterwards and subscribes again.
 */
export async function openRedisTransport(url: URL, options?: TransportOptions): Promise<RedisTransport> {
  const resolved = resolveOptions(options);
  const { tls: given } = resolveConnection('redis', url, options);
  const server = `${url.hostname}:${url.port || '6379'}`;
  // `rediss://` asks for TLS by itself; the `tls` option gives its settings (and asks for it on redis://).
  const tls = given ?? (url.protocol === 'rediss:' ? { rejectUnauthorized: true } : undefined);
  const scheme = tls === undefined ? 'redis' : 'rediss';
  const settings = redisSettings(url, resolved, server, tls);
  const { signal, connectTimeoutMs } = resolved;
  signal?.throwIfAborted();
  // Failures no caller can receive go to the last-resort sink, unless the user handles them.
  const onError: TransportErrorHandler =
    options?.onError ??
    ((error, { subject }) =>
      reportUnhandled(
        'transport',
        subject === server ? `redis://${server}` : `redis://${server}, subject ${describe(subject)}`,
        error,
      ));
  const cmd = new Redis(settings);
  const sub = new Redis(settings);

  return new Promise<RedisTransport>((resolve, reject) => {
    let done = false;
    let lastError: unknown;
    // Until the transport takes over, errors are remembered for the rejection. This listener stays on
    // clients that are given up, so ioredis never prints an "Unhandled error event" for them.
    const onClientError = (error: unknown): void => {
      lastError = error;
      const refused = credentialRefusal(error, server) ?? tlsRefusal(error, `${scheme}://${server}`);
      if (refused !== undefined) fail(refused);
    };
    const fail = (error: unknown): void => {
      if (done) return;
      done = true;
      clearLongTimeout(timer);
      unwatch?.();
      // Both clients stop (no reconnecting in the background) and their sockets are closed before the
      // caller hears of the failure, so nothing of this open outlives its rejection.
      void settleWithin([drop(cmd), drop(sub)], 1000).then(() => reject(error));
    };
    const timer = setLongTimeout(() => {
      const state = cmd.status === 'ready' ? sub.status : cmd.status;
      const detail =
        lastError === undefined
          ? 'the server took the connection but did not answer (a frozen Redis, or another service on that port?)'
          : messageOf(lastError);
      fail(
        new TransportConnectionError(
          `Cannot connect to ${scheme}://${server} within ${connectTimeoutMs} ms (${state}): ${detail}`,
          { cause: lastError },
        ),
      );
    }, connectTimeoutMs);
    const unwatch = signal === undefined ? undefined : onAbort(signal, () => fail(signal.reason));
    cmd.on('error', onClientError);
    sub.on('error', onClientError);

    (async () => {
      await Promise.all([cmd.connect(), sub.connect()]);
      if (done) return;
      const transport = new RedisTransport(cmd, sub, server, { ...resolved, onError });
      await transport.listenForReplies();
      if (done) return;
      done = true;
      clearLongTimeout(timer);
      unwatch?.();
      cmd.off('error', onClientError);
      sub.off('error', onClientError);
      resolve(transport);
    })().catch((error: unknown) => {
      if (error instanceof KeelError) {
        fail(error); // from listenForReplies: the reply inbox was refused (NOPERM)
        return;
      }
      // ioredis rejects connect() with "Connection is closed."; the reason came as an 'error' event.
      const reason = lastError ?? error;
      fail(
        credentialRefusal(reason, server) ??
          tlsRefusal(reason, `${scheme}://${server}`) ??
          new TransportConnectionError(`Cannot connect to ${scheme}://${server}: ${messageOf(reason)}`, {
            cause: reason,
          }),
      );
    });
  });
}
