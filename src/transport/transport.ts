/** The Transport contract: publish/subscribe, queue groups and request/reply between processes. */
import type { KeelError } from '../errors.ts';
import type { Subscription } from '../events/index.ts';
import type { MessageHeaders } from './headers.ts';
import type { Serializer } from './serializer.ts';
import type { TlsOptions } from './tls-options.ts';

export type { MessageHeaders };

/** What every message's meta holds. */
interface MetaBase {
  /** The subject the message was published on (exact, even when the subscription used wildcards). */
  readonly subject: string;
  /** The headers the sender gave (Keel's own `keel-` headers taken out); empty when none. */
  readonly headers: MessageHeaders;
}

/** The meta of a message sent by `publish`: no reply awaited, so no deadline and no signal. */
export interface PublishedMessageMeta extends MetaBase {
  readonly isRequest: false;
  readonly signal?: undefined;
  readonly deadline?: undefined;
}

/** The meta of a message sent by `request`. */
export interface RequestMessageMeta extends MetaBase {
  readonly isRequest: true;
  /**
   * Aborts when the requester stops waiting (its caller aborted, its transport closed: reason
   * RequestCancelledError) or when `deadline` passes (RequestDeadlineError). Pass it on to the work the
   * handler starts. It is not aborted when the handler finishes.
   */
  readonly signal: AbortSignal;
  /**
   * When the requester's budget runs out, in local `Date.now()` milliseconds: the time the request
   * arrived plus the `timeoutMs` it was sent with. `Infinity` when the sender gave no budget (a request
   * from a client other than Keel's).
   */
  readonly deadline: number;
}

/** What a handler learns about the message besides its payload; `isRequest` tells the two kinds apart. */
export type MessageMeta = PublishedMessageMeta | RequestMessageMeta;

/**
 * Receives each decoded message. For a message sent by `request`, the returned value (or the value the
 * returned promise resolves to) is the reply, and a throw becomes a `RemoteHandlerError` at the requester.
 */
export type Handler<T = unknown, R = unknown> = (payload: T, meta: MessageMeta) => R | Promise<R>;

export interface SubscribeOptions {
  /**
   * Queue group: each message goes to one member of the group only (load balancing), while
   * subscriptions outside the group still get their own copy. Not available over Redis.
   * @default undefined (every subscription gets every message)
   */
  readonly queue?: string | undefined;
  /** Unsubscribes when aborted. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Whether the handler answers requests. With `false`, a request reaches the handler like a message
   * (`meta.isRequest` is true) and nothing is sent back, whatever the handler returns or throws: for a
   * listener that must never publish on a reply subject a sender chose.
   * @default true
   */
  readonly reply?: boolean | undefined;
  /**
   * How many handler calls of this subscription may run at once (a handler that returns a promise runs
   * until it settles). Messages past it wait for a turn, in arrival order. `Infinity` lifts the bound.
   * @default 64
   */
  readonly concurrency?: number | undefined;
  /**
   * How many messages may wait for a turn once `concurrency` handlers run. Past it, messages are dropped
   * and counted in `dropped`, `onError` gets a SubscriptionOverflowError once per burst, and a dropped
   * request is answered at once with that error. `Infinity` lifts the bound.
   * @default 10000
   */
  readonly maxPending?: number | undefined;
}

/**
 * The events floor's Subscription (call it, or let `using` dispose it, to unsubscribe; idempotent), plus
 * what a subscription over an engine needs.
 */
export interface TransportSubscription extends Subscription {
  readonly subject: string;
  readonly queue: string | undefined;
  /**
   * Resolves once the engine has registered the subscription, so messages published from any other
   * connection from then on reach it. Rejects with a TransportConnectionError if registering failed.
   */
  readonly ready: Promise<void>;
  /** How many messages this subscription dropped because `concurrency` and `maxPending` were reached. */
  readonly dropped: number;
}

export interface PublishOptions {
  readonly signal?: AbortSignal | undefined;
  /**
   * Headers to send with the message: names are tokens (letters, digits, `!#$%&'*+-.^_\`|~`), not starting
   * with `keel-` (Keel's own); values are strings without CR, LF, NUL or leading/trailing whitespace;
   * 8192 bytes of names and values at most.
   */
  readonly headers?: MessageHeaders | undefined;
}

export interface RequestOptions {
  /**
   * How long to wait for the reply. It travels with the request (as the budget left when sent), and
   * the responder's handler gets it as `meta.deadline`. @default 5000
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Aborting rejects the request with `signal.reason`, and tells the responder, whose handler's
   * `meta.signal` aborts.
   */
  readonly signal?: AbortSignal | undefined;
  /** Headers to send with the request; the rules of `PublishOptions.headers`. */
  readonly headers?: MessageHeaders | undefined;
}

export interface RequestManyOptions {
  /**
   * How long to gather replies; it travels with the request as the responders' budget, as for `request`.
   * @default 1000
   */
  readonly timeoutMs?: number | undefined;
  /** Ends the gathering once this many replies came; `Infinity` lets only time end it. @default 10000 */
  readonly maxReplies?: number | undefined;
  /**
   * Ends the gathering when no further reply came for this long after the last one (the clock starts at
   * the first reply). @default Infinity (wait for `timeoutMs` or `maxReplies`)
   */
  readonly stallMs?: number | undefined;
  /** Aborting rejects with `signal.reason` (the replies gathered so far are dropped) and tells the responders. */
  readonly signal?: AbortSignal | undefined;
  /** Headers to send with the request; the rules of `PublishOptions.headers`. */
  readonly headers?: MessageHeaders | undefined;
}

/** One reply of `requestMany`: its decoded value, or why it has none (the responder's error, a decode failure). */
export type GatheredReply<R = unknown> =
  | { readonly ok: true; readonly value: R }
  | { readonly ok: false; readonly error: KeelError };

export interface CloseOptions {
  /**
   * How long close() lets handlers still running and requests still waiting finish; after that they
   * are abandoned (waiting requests reject with TransportClosedError) and the connection is closed.
   * @default 10000
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Aborting ends that wait at once: the connection is closed without flushing, then close() rejects
   * with `signal.reason`.
   */
  readonly signal?: AbortSignal | undefined;
}

/** Where a Transport reports failures that have no caller to reject: undecodable messages, handler throws. */
export type TransportErrorHandler = (error: KeelError, context: { readonly subject: string }) => void;

export interface TransportOptions {
  /** How payloads become bytes. @default jsonSerializer */
  readonly serializer?: Serializer | undefined;
  /** Receives failures no caller can see. @default reports them on stderr (and `keel:transport.unhandled`) */
  readonly onError?: TransportErrorHandler | undefined;
  /** A name for the connection, shown by the engine's monitoring (NATS `name`, Redis `CLIENT SETNAME`). */
  readonly name?: string | undefined;
  /** Aborts opening the connection. */
  readonly signal?: AbortSignal | undefined;
  /** How long `openTransport` waits for the first connection (NATS, Redis). @default 5000 */
  readonly connectTimeoutMs?: number | undefined;
  /**
   * Connect over TLS with these settings (NATS, Redis). `tls://` (NATS) and `rediss://` (Redis) URLs use
   * TLS without it, trusting Node's root certificates. @default no TLS, unless the URL's scheme asks for it
   */
  readonly tls?: TlsOptions | undefined;
  /** NATS only: the server's authorization token (also `nats://TOKEN@host`). */
  readonly token?: string | undefined;
  /** NATS only: the path of a credentials file (a user JWT and its nkey seed), read at open. */
  readonly credsFile?: string | undefined;
  /** NATS only: the contents of a credentials file, when it does not live on disk. */
  readonly creds?: string | Uint8Array | undefined;
}

/**
 * Messages between processes. Core pub/sub is at-most-once: a message published while nobody is
 * subscribed, or while the connection is down, may be lost. See docs/transport.md.
 */
export interface Transport extends AsyncDisposable {
  /** The engine: `memory`, `nats` or `redis`. */
  readonly kind: string;
  /** Whether close() was called. */
  readonly closed: boolean;
  /** Sends `payload` to every subscription on `subject` (one member per queue group). */
  publish(subject: string, payload?: unknown, options?: PublishOptions): Promise<void>;
  /** Calls `handler` for each message on `subject` (wildcards `*` and `>` allowed) until unsubscribed. */
  subscribe<T = unknown>(
    subject: string,
    handler: Handler<T>,
    options?: SubscribeOptions,
  ): TransportSubscription;
  /**
   * Sends `payload` to one responder on `subject` and resolves to its decoded reply. The reply's type is
   * the caller's claim; it is not checked. Rejects with TransportTimeoutError, NoRespondersError,
   * RemoteHandlerError, TransportDecodeError, ReplyTooLargeError, TransportPermissionError (NATS), or
   * `signal.reason` when aborted.
   */
  request<R = unknown>(subject: string, payload?: unknown, options?: RequestOptions): Promise<R>;
  /**
   * Scatter-gather: sends `payload` to every responder on `subject` (one member per queue group) and
   * resolves to their replies, in arrival order, once `timeoutMs` passes, `maxReplies` came, or no reply
   * came for `stallMs` after the last. Resolves to `[]` at once when nobody subscribes. Responders still
   * working when it ends get a cancel. Rejects with `signal.reason` when aborted, TransportClosedError
   * when the transport closes first, or the engine's refusal (TransportPermissionError, a connection error).
   */
  requestMany<R = unknown>(
    subject: string,
    payload?: unknown,
    options?: RequestManyOptions,
  ): Promise<GatheredReply<R>[]>;
  /**
   * Stops taking new work, unsubscribes, lets running handlers and waiting requests finish (up to
   * `timeoutMs`), flushes what was published and closes the connection. Idempotent: later calls return
   * the first call's promise.
   */
  close(options?: CloseOptions): Promise<void>;
}
