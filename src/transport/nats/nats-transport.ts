/** The NATS Transport over nats.js: core pub/sub, queue groups, and request/reply on a shared inbox. */
import {
  AuthorizationError,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  headers,
  type Msg,
  type MsgHdrs,
  MsgHdrsImpl,
  type NatsConnection,
  type TlsOptions as NatsTlsOptions,
  nuid,
  PermissionViolationError,
} from '@nats-io/transport-node';
import { clearLongTimeout, MAX_TIMER_MS, onAbort, setLongTimeout, settleWithin } from '../../abort.ts';
import { describe, InvalidArgumentError, type KeelError } from '../../errors.ts';
import {
  BaseTransport,
  type Binding,
  type Incoming,
  type ReplyFrame,
  type ReplyOutcome,
  type ReplyWaiter,
} from '../base-transport.ts';
import { CANCEL_PREFIX } from '../cancel-message.ts';
import {
  type ConnectionSettings,
  resolveConnection,
  shownUrl,
  urlCredential,
} from '../connection-options.ts';
import type { MessageHeaders } from '../headers.ts';
import { ReplyInbox } from '../reply-inbox.ts';
import { unlessAborted } from '../settle.ts';
import { hasWildcard } from '../subject.ts';
import { tlsRefusal } from '../tls-options.ts';
import type { TransportOptions } from '../transport.ts';
import {
  messageOf,
  NoRespondersError,
  parseRemoteInfo,
  ReplyTooLargeError,
  TransportAuthError,
  TransportConnectionError,
  TransportPermissionError,
  TransportTlsError,
} from '../transport-errors.ts';
import { type ResolvedOptions, resolveOptions } from '../transport-options.ts';
import { refusedClientCertificate } from './client-cert-probe.ts';

/** Header that marks a reply as the responder's error; the body is then a JSON RemoteErrorInfo. */
const errorHeader = 'Keel-Error';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * NATS message headers whose encoding (done by nats.js inside publish) uses `Buffer.from`: nats.js's own
 * goes through TextEncoder, which alone costs more than building the headers.
 */
class WireHeaders extends MsgHdrsImpl {
  override encode(): Uint8Array {
    return Buffer.from(this.toString(), 'utf8');
  }
}

/**
 * Keel's headers as NATS message headers, names kept as given. Filled directly: checkHeaders has already
 * refused what nats.js's append() would (names that are not tokens, CR, LF, surrounding whitespace), so its
 * per-header validation and lookups are skipped.
 */
function toNats(record: MessageHeaders): MsgHdrs {
  const h = new WireHeaders();
  for (const name in record) h.headers.set(name, [record[name] as string]);
  return h;
}

/**
 * The budget a Keel requester put in its reply address, `<inbox>.<id>_<ms>`: carried there rather than in
 * a header, because a NATS message with headers costs the client about half again as much CPU per request
 * (measured: ~28 µs without, ~46 µs with a single header, both ends in one process), and most requests
 * need no other header. Any other reply address has no budget.
 */
function budgetOf(reply: string): number | undefined {
  const at = reply.lastIndexOf('_');
  if (at <= reply.lastIndexOf('.')) return undefined;
  const digits = reply.slice(at + 1);
  return /^\d{1,16}$/.test(digits) ? Number(digits) : undefined;
}

/** NATS message headers as Keel's: the first value of each name. */
function fromNats(h: MsgHdrs): MessageHeaders {
  const record = Object.create(null) as Record<string, string>;
  for (const [name, values] of h) if (values.length > 0) record[name] = values[0] as string;
  return record;
}

export class NatsTransport extends BaseTransport {
  readonly kind = 'nats';
  /** The server address, without credentials. */
  readonly server: string;
  readonly #nc: NatsConnection;
  /** Replies to this connection's requests arrive on `<inbox>.<id>`, all through one subscription. */
  readonly #replies = new ReplyInbox(`_INBOX.${nuid.next()}`);
  #state = 'connected';
  /** Set when the server refused this connection's reply inbox: no request can get a reply then. */
  #inboxDenied: TransportPermissionError | undefined;

  constructor(nc: NatsConnection, server: string, options: ResolvedOptions) {
    super(options);
    this.#nc = nc;
    this.server = server;
    nc.subscribe(`${this.#replies.prefix}.*`, { callback: (error, msg) => this.#onReply(error, msg) });
    // The status stream ends when the connection closes; it has nothing to report after that.
    this.#watch().catch(() => {});
  }

  /** Follows the connection's state for error messages, and reports losing it. */
  async #watch(): Promise<void> {
    for await (const status of this.#nc.status()) {
      if (status.type === 'disconnect') {
        this.#state = 'disconnected, reconnecting';
        this.report(
          new TransportConnectionError(`Lost the connection to nats://${this.server}; reconnecting`),
          this.server,
        );
      } else if (status.type === 'reconnecting') this.#state = 'disconnected, reconnecting';
      else if (status.type === 'reconnect') this.#state = 'connected';
      else if (status.type === 'close') this.#state = 'closed';
      else if (status.type === 'error' && status.error instanceof PermissionViolationError) {
        // A refused subscription reaches its own callback; a refused publish is known only here.
        if (status.error.operation === 'publish') this.#publishDenied(status.error);
      }
    }
  }

  /**
   * The server refused a publish on a subject (it says so later, on the connection): requests waiting on
   * that subject fail now instead of at their deadline; a plain publish has no caller left, so onError.
   */
  #publishDenied(error: PermissionViolationError): void {
    const { subject } = error;
    const failed = this.#replies.failWhere(
      (waiting) => waiting === subject,
      () => new TransportPermissionError('publish', subject, { cause: error }),
    );
    // A refused cancel costs the responder only time (its deadline ends the call): not worth a report each.
    if (failed === 0 && !subject.startsWith(CANCEL_PREFIX))
      this.report(new TransportPermissionError('publish', subject, { cause: error }), subject);
  }

  #onReply(error: Error | null, msg: Msg): void {
    if (error) {
      if (error instanceof PermissionViolationError) {
        // No reply can reach this connection: every request fails now, and every later one at once.
        const denied = new TransportPermissionError('subscribe', error.subject, { cause: error });
        this.#inboxDenied = denied;
        this.#replies.failWhere(
          () => true,
          () => denied,
        );
        this.report(denied, error.subject);
      }
      return;
    }
    const pending = this.#replies.take(msg.subject);
    if (pending === undefined) return; // timed out or aborted earlier: the late reply is dropped
    const h = msg.headers;
    if (h === undefined) pending.reply({ ok: true, data: msg.data });
    else if (h.hasError && h.code === 503) pending.fail(new NoRespondersError(pending.subject));
    else if (h.get(errorHeader)) {
      pending.reply({ ok: false, error: parseRemoteInfo(decoder.decode(msg.data)) });
    } else pending.reply({ ok: true, data: msg.data });
  }

  protected sendMessage(
    subject: string,
    data: Uint8Array,
    _signal?: AbortSignal,
    headers?: MessageHeaders,
  ): undefined {
    try {
      this.#nc.publish(subject, data, headers === undefined ? undefined : { headers: toNats(headers) });
    } catch (error) {
      throw this.#publishError('publish', subject, data, error);
    }
    return undefined;
  }

  protected bind(subject: string, queue: string | undefined, deliver: (m: Incoming) => void): Binding {
    // Without wildcards the subject is known; reading msg.subject would decode it for every message.
    const exact = !hasWildcard(subject);
    let registered = false;
    let denied: TransportPermissionError | undefined;
    const sub = this.#nc.subscribe(subject, {
      ...(queue === undefined ? {} : { queue }),
      callback: (error, msg) => {
        if (error instanceof PermissionViolationError) {
          // The server refused the subscription (and nats.js ended it). Before `ready` settles, `ready`
          // rejects with the error (and the transport reports it); later, only onError can hear it.
          denied = new TransportPermissionError('subscribe', subject, { cause: error });
          if (registered) this.report(denied, subject);
          return;
        }
        if (error) {
          this.report(this.#connectionError(`receive on ${subject}`, error), subject);
          return;
        }
        const reply = msg.reply;
        const on = exact ? subject : msg.subject;
        const h = msg.headers;
        deliver({
          subject: on,
          data: msg.data,
          headers: h === undefined ? undefined : fromNats(h),
          respond: reply ? (frame) => this.#respond(on, reply, frame) : undefined,
          key: reply || undefined,
          timeoutMs: reply ? budgetOf(reply) : undefined,
        });
      },
    });
    // The server has the subscription once it answers a ping sent after it; a refusal arrives before that.
    const ready = this.#nc.flush().then(
      () => {
        registered = true;
        if (denied !== undefined) throw denied;
      },
      (error: unknown) => {
        registered = true;
        throw denied ?? this.#connectionError(`subscribe to ${subject}`, error);
      },
    );
    return {
      unsubscribe: () => {
        // A drain, not a plain unsubscribe: messages the server routed here before it heard of the
        // departure still reach `deliver` (which refuses requests), rather than vanishing in nats.js.
        if (!this.#nc.isClosed()) sub.drain().catch(() => {});
      },
      ready,
    };
  }

  /** Sends a reply; one over the server's max_payload throws ReplyTooLargeError, so the base sends a small one. */
  #respond(subject: string, replyTo: string, frame: ReplyFrame): void {
    let data: Uint8Array;
    let h: ReturnType<typeof headers> | undefined;
    if (frame.ok) data = frame.data;
    else {
      h = headers();
      h.set(errorHeader, frame.error.code);
      data = encoder.encode(JSON.stringify(frame.error));
    }
    try {
      this.#nc.publish(replyTo, data, h === undefined ? undefined : { headers: h });
    } catch (error) {
      const limit = this.#nc.info?.max_payload;
      if ((limit !== undefined && data.byteLength > limit) || /max_payload/.test(messageOf(error))) {
        throw new ReplyTooLargeError(
          subject,
          `is ${data.byteLength} bytes, over the server's max_payload of ${limit ?? 'unknown'} bytes; the requester gets this error instead`,
          { cause: error },
        );
      }
      throw this.#connectionError(`reply on ${subject}`, error);
    }
  }

  protected sendRequest(
    subject: string,
    data: Uint8Array,
    waiter: ReplyWaiter,
    timeoutMs: number,
    headers: MessageHeaders | undefined,
  ): string {
    const { id, replyTo } = this.#replies.open(waiter, `_${timeoutMs}`);
    const refusal = this.#refusal(subject);
    if (refusal !== undefined) {
      this.#replies.fail(id, refusal);
      return replyTo;
    }
    try {
      this.#nc.publish(
        subject,
        data,
        headers === undefined ? { reply: replyTo } : { reply: replyTo, headers: toNats(headers) },
      );
    } catch (error) {
      this.#replies.fail(id, this.#publishError('request', subject, data, error));
    }
    return replyTo;
  }

  /** Why no request can be sent now (the inbox was refused, or the connection is down), if so. */
  #refusal(subject: string): KeelError | undefined {
    if (this.#inboxDenied !== undefined) return this.#inboxDenied;
    if (this.#state === 'connected') return undefined;
    // nats.js empties its outbound buffer at each reconnect attempt: a request sent now would be lost
    // without a word and wait out its deadline. Its caller hears at once, and may retry.
    return new TransportConnectionError(
      `Cannot send a request on ${describe(subject)}: the connection to nats://${this.server} is down (${this.#state}); nothing was sent`,
    );
  }

  protected sendGather(
    subject: string,
    data: Uint8Array,
    signal: AbortSignal,
    timeoutMs: number,
    headers: MessageHeaders | undefined,
    receive: (outcome: ReplyOutcome) => void,
  ): string {
    // Every reply comes to the one address; the server's no-responders status ends the gathering at once.
    const { id, replyTo } = this.#replies.openMany(subject, signal, `_${timeoutMs}`, receive);
    // As for a request: nats.js would drop it at its next reconnect attempt, and the gathering would end
    // empty at its timeout as though nobody served the subject.
    const refusal = this.#refusal(subject);
    if (refusal !== undefined) {
      this.#replies.fail(id, refusal);
      return replyTo;
    }
    try {
      this.#nc.publish(
        subject,
        data,
        headers === undefined ? { reply: replyTo } : { reply: replyTo, headers: toNats(headers) },
      );
    } catch (error) {
      this.#replies.fail(id, this.#publishError('request', subject, data, error));
    }
    return replyTo;
  }

  protected async shutdown(graceMs: number): Promise<void> {
    if (this.#nc.isClosed()) return;
    // drain() flushes what was published; it fails at once while disconnected, and may outlast graceMs.
    await settleWithin([this.#nc.drain()], graceMs);
    if (!this.#nc.isClosed()) await this.#nc.close();
    await this.#nc.closed();
  }

  protected connectionState(): string {
    return this.#state;
  }

  /** A payload over the server's limit is the caller's mistake; anything else is the connection's. */
  #publishError(operation: string, subject: string, data: Uint8Array, error: unknown): KeelError {
    const limit = this.#nc.info?.max_payload;
    if (limit !== undefined && data.byteLength > limit) {
      return new InvalidArgumentError(
        `payload for ${describe(subject)} must be at most ${limit} bytes (the server's max_payload); received ${data.byteLength} bytes`,
        { cause: error },
      );
    }
    return this.#connectionError(operation, error);
  }

  #connectionError(operation: string, error: unknown): TransportConnectionError {
    return new TransportConnectionError(
      `Cannot ${operation} over nats://${this.server} (${this.#state}): ${messageOf(error)}`,
      { cause: error },
    );
  }
}

/** The connection's credentials, from the URL and the options; two sources for one server are refused. */
function natsAuth(url: URL, server: string, secure: ConnectionSettings): Partial<ConnectionOptions> {
  const user = urlCredential(url, 'username', 'NATS', server);
  const pass = urlCredential(url, 'password', 'NATS', server);
  const inUrl = user !== '' || pass !== '';
  if (inUrl && (secure.token !== undefined || secure.creds !== undefined)) {
    throw new InvalidArgumentError(
      `openTransport() for ${server}: give credentials in the URL or in the ${secure.token === undefined ? 'creds/credsFile' : 'token'} option, not both`,
    );
  }
  if (user === '' && pass !== '') {
    throw new InvalidArgumentError(
      `A NATS transport URL with a password needs a user name (nats://user:pass@host); received one for ${server} without`,
    );
  }
  if (secure.creds !== undefined) return { authenticator: credsAuthenticator(secure.creds) };
  if (secure.token !== undefined) return { token: secure.token };
  if (user !== '' && pass !== '') return { user, pass };
  // `nats://secret@host`: the one part before the host is a token, as in the NATS tools.
  if (user !== '') return { token: user };
  return {};
}

/** What the server refused, for the message (never the credentials' values). */
function refusal(where: string, url: URL, secure: ConnectionSettings): string {
  if (secure.creds !== undefined) return `NATS at ${where} refused the credentials (creds/credsFile)`;
  if (secure.token !== undefined) return `NATS at ${where} refused the token option`;
  if (url.password !== '') return `NATS at ${where} refused the user name and password in the URL`;
  if (url.username !== '') return `NATS at ${where} refused the token in the URL`;
  return `NATS at ${where} requires credentials and none were given (URL user:pass or token, token, creds, credsFile)`;
}

/** nats.js's reason for a failed first connect, as a Keel error: refusals no retry cures are not retryable. */
function openError(error: unknown, where: string, url: URL, secure: ConnectionSettings): KeelError {
  const message = messageOf(error);
  if (
    error instanceof AuthorizationError ||
    /authorization violation|user authentication (expired|revoked)/i.test(message)
  ) {
    return new TransportAuthError(`${refusal(where, url, secure)}: ${message}`, { cause: error });
  }
  const tls = tlsRefusal(error, where);
  if (tls !== undefined) return tls;
  if (/does not support 'tls'/.test(message)) {
    return new TransportTlsError(
      `TLS with ${where} failed: the server does not offer TLS, and the connection asks for it (tls:// or the tls option)`,
      { cause: error },
    );
  }
  if (/tls.*not available|tls required/i.test(message)) {
    return new TransportTlsError(
      `TLS with ${where} failed: the server requires TLS (use tls:// or the tls option): ${message}`,
      { cause: error },
    );
  }
  return new TransportConnectionError(`Cannot connect to ${where}: ${message}`, { cause: error });
}

/**
 * Connects to `nats://[user:pass@|token@]host[:port]`, or `tls://…` for TLS (as the NATS tools write it).
 * Reconnects without limit after the server goes away. Publishes made meanwhile are lost (nats.js empties
 * its buffer at each reconnect attempt); requests made meanwhile fail at once with a retryable
 * TransportConnectionError.
 */
export async function openNatsTransport(
  url: URL,
  options?: TransportOptions,
  /** The cluster's other servers (`nats://h1,nats://h2`): tried after `url`, at connect and reconnect. */
  seeds: readonly URL[] = [],
): Promise<NatsTransport> {
  const resolved = resolveOptions(options);
  const secure = resolveConnection('nats', url, options);
  for (const each of [url, ...seeds]) {
    if (!each.hostname || (each.pathname !== '' && each.pathname !== '/') || each.search || each.hash) {
      // Without a host, nats.js would quietly dial localhost.
      throw new InvalidArgumentError(
        `A NATS transport URL is nats://[token@]host[:port] (tls:// for TLS), or with a user and password nats://[user:pass@]host[:port]; received ${describe(shownUrl(each, true))}`,
      );
    }
  }
  const server = `${url.hostname}:${url.port || '4222'}`;
  const servers = [server, ...seeds.map((seed) => `${seed.hostname}:${seed.port || '4222'}`)];
  const auth = natsAuth(url, server, secure);
  // `tls://` asks for TLS by itself; the `tls` option gives its settings (and asks for it on nats://).
  const tls = secure.tls ?? (url.protocol === 'tls:' ? { rejectUnauthorized: true } : undefined);
  const where = `${tls === undefined ? 'nats' : 'tls'}://${server}`;
  const { signal, connectTimeoutMs } = resolved;
  signal?.throwIfAborted();
  // Gives up at connectTimeoutMs however long it is, or when the caller's signal aborts.
  const giveUp = new AbortController();
  const timer = setLongTimeout(() => {
    giveUp.abort(new TransportConnectionError(`Cannot connect to ${where} within ${connectTimeoutMs} ms`));
  }, connectTimeoutMs);
  const unwatch = signal === undefined ? undefined : onAbort(signal, () => giveUp.abort(signal.reason));
  try {
    if (tls !== undefined) {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const port = Number(url.port || '4222');
      const probe = refusedClientCertificate(host, port, tls, where, giveUp.signal);
      const refused = await unlessAborted(probe, giveUp.signal, () => {});
      if (refused !== undefined) throw refused;
    }
    const connecting = connect({
      // nats.js shuffles the list (spreading clients over the cluster) and adds what the servers gossip.
      servers,
      ...(resolved.name === undefined ? {} : { name: resolved.name }),
      ...auth,
      // nats.js passes these on to tls.connect (Buffers and CA lists included), over its own defaults.
      ...(tls === undefined ? {} : { tls: { ...tls } as unknown as NatsTlsOptions }),
      // nats.js arms a plain timer, which fires after 1 ms past 2^31-1 ms; the bound above is the real one.
      timeout: Math.min(connectTimeoutMs, MAX_TIMER_MS),
      // Reconnect forever, trying every 250 ms (plus up to 100 ms of jitter, so clients do not stampede).
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      reconnectJitterTLS: 100,
    }).catch((error: unknown) => {
      throw openError(error, where, url, secure);
    });
    const nc = await unlessAborted(connecting, giveUp.signal, (late) => late.close());
    return new NatsTransport(nc, server, resolved);
  } finally {
    clearLongTimeout(timer);
    unwatch?.();
  }
}
