/** The errors a Transport raises; each has a stable `KEEL_TRANSPORT_*` code listed in docs/errors.md. */
import { describe, KeelError, type KeelErrorOptions } from '../errors.ts';

/** The connection to the engine failed or was lost; the same call may succeed once it is back. */
export class TransportConnectionError extends KeelError {
  constructor(message: string, options: Omit<KeelErrorOptions, 'retryable'> = {}) {
    super('KEEL_TRANSPORT_CONNECTION', message, { ...options, retryable: true });
  }
}

/**
 * The engine refused the credentials given at open (a wrong password, a disabled user, a password
 * missing where one is required). Trying again with the same URL cannot help.
 */
export class TransportAuthError extends KeelError {
  constructor(message: string, options: Omit<KeelErrorOptions, 'retryable'> = {}) {
    super('KEEL_TRANSPORT_AUTH', message, options);
  }
}

/** No reply arrived within `timeoutMs`. */
export class TransportTimeoutError extends KeelError {
  readonly subject: string;
  readonly timeoutMs: number;

  constructor(subject: string, timeoutMs: number, state: string) {
    super(
      'KEEL_TRANSPORT_TIMEOUT',
      `No reply to the request on ${describe(subject)} within ${timeoutMs} ms (connection: ${state})`,
      { retryable: true },
    );
    this.subject = subject;
    this.timeoutMs = timeoutMs;
  }
}

/** Nobody was subscribed to the subject of a request. */
export class NoRespondersError extends KeelError {
  readonly subject: string;

  constructor(subject: string) {
    super('KEEL_TRANSPORT_NO_RESPONDERS', `No subscriber answers requests on ${describe(subject)}`, {
      retryable: true,
    });
    this.subject = subject;
  }
}

/** The transport was closed (or is closing) when the operation was called. */
export class TransportClosedError extends KeelError {
  constructor(operation: string) {
    super('KEEL_TRANSPORT_CLOSED', `Cannot ${operation}: the transport is closed`);
  }
}

/** A payload could not be encoded by the transport's serializer. */
export class TransportEncodeError extends KeelError {
  readonly subject: string;

  constructor(subject: string, serializer: string, cause: unknown) {
    super(
      'KEEL_TRANSPORT_ENCODE',
      `Cannot encode the payload for ${describe(subject)} with the ${serializer} serializer: ${messageOf(cause)}`,
      { cause },
    );
    this.subject = subject;
  }
}

/** A received message or reply could not be decoded; it is dropped and nothing else is affected. */
export class TransportDecodeError extends KeelError {
  readonly subject: string;

  constructor(subject: string, what: 'message' | 'reply', serializer: string, cause: unknown) {
    super(
      'KEEL_TRANSPORT_DECODE',
      `Cannot decode the ${what} received on ${describe(subject)} with the ${serializer} serializer: ${messageOf(cause)}`,
      { cause },
    );
    this.subject = subject;
  }
}

/** A subscription's handler threw for a message published without a reply expected. */
export class TransportHandlerError extends KeelError {
  readonly subject: string;

  constructor(subject: string, cause: unknown) {
    super('KEEL_TRANSPORT_HANDLER', `The handler for ${describe(subject)} failed: ${messageOf(cause)}`, {
      cause,
    });
    this.subject = subject;
  }
}

/**
 * The server refused an operation on a subject this connection has no permission for (NATS
 * `Permissions Violation`). Trying again cannot help until the server's permissions change.
 */
export class TransportPermissionError extends KeelError {
  readonly subject: string;
  /** What was refused: `publish` (also a request), or `subscribe`. */
  readonly operation: 'publish' | 'subscribe';

  constructor(
    operation: 'publish' | 'subscribe',
    subject: string,
    options: { readonly cause?: unknown; readonly message?: string } = {},
  ) {
    super(
      'KEEL_TRANSPORT_PERMISSION',
      options.message ??
        `The server denies this connection permission to ${operation} on ${describe(subject)}`,
      { cause: options.cause },
    );
    this.subject = subject;
    this.operation = operation;
  }
}

/**
 * A responder's reply was larger than the engine accepts (NATS `max_payload`). The responder reports it
 * to its `onError` and sends this small error in place of the reply, so the requester learns at once.
 */
export class ReplyTooLargeError extends KeelError {
  readonly subject: string;

  constructor(subject: string, detail: string, options: { readonly cause?: unknown } = {}) {
    super(
      'KEEL_TRANSPORT_REPLY_TOO_LARGE',
      `The reply to the request on ${describe(subject)} ${detail}`,
      options,
    );
    this.subject = subject;
  }
}

/**
 * A subscription had `concurrency` handlers running and `maxPending` messages waiting when more arrived;
 * those were dropped (and counted in the subscription's `dropped`). Reported once per burst.
 */
export class SubscriptionOverflowError extends KeelError {
  readonly subject: string;
  readonly concurrency: number;
  readonly maxPending: number;

  constructor(subject: string, concurrency: number, maxPending: number) {
    super(
      'KEEL_TRANSPORT_OVERFLOW',
      `The subscription to ${describe(subject)} is dropping messages: ${concurrency} handlers are running and ${maxPending} messages wait (its concurrency and maxPending)`,
      { retryable: true },
    );
    this.subject = subject;
    this.concurrency = concurrency;
    this.maxPending = maxPending;
  }
}

/** What travels back to a requester when the responder failed. */
export interface RemoteErrorInfo {
  readonly code: string;
  readonly name: string;
  readonly message: string;
  readonly retryable: boolean;
}

/** The responder's handler failed (or could not decode the request); carries the remote error's fields. */
export class RemoteHandlerError extends KeelError {
  readonly subject: string;
  /** The `code` of the error on the responder's side (`KEEL_...`, or `ERROR` for a plain Error). */
  readonly remoteCode: string;
  readonly remoteName: string;

  constructor(subject: string, remote: RemoteErrorInfo) {
    super(
      'KEEL_TRANSPORT_REMOTE',
      `The responder on ${describe(subject)} failed: ${remote.name} [${remote.code}]: ${remote.message}`,
      { retryable: remote.retryable },
    );
    this.subject = subject;
    this.remoteCode = remote.code;
    this.remoteName = remote.name;
  }
}

/** The engine behind this transport cannot offer the operation; the message names the alternative. */
export class TransportUnsupportedError extends KeelError {
  constructor(message: string) {
    super('KEEL_TRANSPORT_UNSUPPORTED', message);
  }
}

/** The driver package for a transport URL is not installed. */
export class TransportDriverMissingError extends KeelError {
  readonly driver: string;

  constructor(scheme: string, driver: string, cause: unknown) {
    super(
      'KEEL_TRANSPORT_DRIVER_MISSING',
      `The ${scheme}:// transport needs the ${driver} package: npm install ${driver}`,
      { cause },
    );
    this.driver = driver;
  }
}

/** Renders an error (or anything thrown) as a one-line message. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : describe(error);
}

/** The fields of an error that are sent to a requester. */
export function toRemoteInfo(error: unknown): RemoteErrorInfo {
  if (error instanceof KeelError) {
    return { code: error.code, name: error.name, message: error.message, retryable: error.retryable };
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      code: typeof code === 'string' ? code : 'ERROR',
      name: error.name,
      message: error.message,
      retryable: false,
    };
  }
  return { code: 'ERROR', name: 'Error', message: describe(error), retryable: false };
}

/** Reads a RemoteErrorInfo sent by another process, tolerating missing fields. */
export function parseRemoteInfo(text: string): RemoteErrorInfo {
  let value: Partial<Record<keyof RemoteErrorInfo, unknown>> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) value = parsed;
  } catch {
    // keep the defaults below
  }
  return {
    code: typeof value.code === 'string' ? value.code : 'ERROR',
    name: typeof value.name === 'string' ? value.name : 'Error',
    message: typeof value.message === 'string' ? value.message : 'unreadable error reply',
    retryable: value.retryable === true,
  };
}

/**
 * A message on an event bridge's subjects is not an event the bridge can deliver (not an envelope, a
 * malformed topic, a payload that does not decode); it is dropped and nothing else is affected.
 */
export class EventBridgeMessageError extends KeelError {
  readonly subject: string;

  constructor(subject: string, reason: string, options: { readonly cause?: unknown } = {}) {
    super(
      'KEEL_EVENT_BRIDGE_MESSAGE',
      `Dropped the event message received on ${describe(subject)}: ${reason}`,
      options,
    );
    this.subject = subject;
  }
}

/**
 * The abort reason of a request handler's `meta.signal` when the requester stopped waiting: its caller
 * aborted the request, or the requester's transport closed. The reply, if the handler still sends one, is
 * dropped.
 */
export class RequestCancelledError extends KeelError {
  readonly subject: string;

  constructor(subject: string) {
    super('KEEL_TRANSPORT_CANCELLED', `The requester cancelled the request on ${describe(subject)}`);
    this.subject = subject;
  }
}

/**
 * The abort reason of a request handler's `meta.signal` when the request's deadline passed (the
 * requester's `timeoutMs`, counted from when the request arrived); the requester has a
 * TransportTimeoutError by then. Also the answer to a request whose deadline passed before its handler's
 * turn came: that handler is not called.
 */
export class RequestDeadlineError extends KeelError {
  readonly subject: string;

  constructor(subject: string) {
    super('KEEL_TRANSPORT_DEADLINE', `The deadline of the request on ${describe(subject)} has passed`, {
      retryable: true,
    });
    this.subject = subject;
  }
}
