/** Message headers: the checks on what a sender passes, and the split between users' and Keel's own. */
import { describe, InvalidArgumentError } from '../errors.ts';

/** A message's headers: names to values, read-only. Empty when the message carries none. */
export type MessageHeaders = Readonly<Record<string, string>>;

/** Header names that start with this (in any case) are Keel's own; users may not send them. */
export const RESERVED_PREFIX = 'keel-';

/** The request's remaining budget in whole milliseconds when it was sent (relative, so clocks need not agree). */
export const TIMEOUT_HEADER = 'keel-timeout';

/**
 * The most a message's headers may hold: names plus values (as UTF-8), in bytes. As gRPC's default for
 * metadata: room for a trace context and a few ids, not for a second payload.
 */
export const MAX_HEADER_BYTES = 8192;

/** The headers of a message that has none; shared, so a message without headers allocates nothing. */
export const noHeaders: MessageHeaders = Object.freeze(Object.create(null) as Record<string, string>);

/** An RFC 9110 token: the characters a header name may use (letters, digits and !#$%&'*+-.^_`|~). */
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** CR and LF would split a header line, NUL ends one in some readers. */
const forbidden = /[\r\n\0]/;

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

function isReserved(name: string): boolean {
  // Most names do not start with a k: no copy of the name is made for them.
  const first = name.charCodeAt(0);
  return (
    (first === 107 || first === 75) &&
    name.length >= RESERVED_PREFIX.length &&
    name.slice(0, RESERVED_PREFIX.length).toLowerCase() === RESERVED_PREFIX
  );
}

/**
 * Checks the `headers` option of publish() or request() and returns a frozen copy (so later changes by
 * the caller do not reach a message not yet sent), or undefined when there are none. `label` names the
 * call, as `Transport.publish() headers`. Names in `leaveOut` are checked but not copied (the caller
 * reads them apart).
 */
export function checkHeaders(
  label: string,
  value: unknown,
  leaveOut?: readonly string[],
): MessageHeaders | undefined {
  if (value === undefined) return undefined;
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new InvalidArgumentError(
      `${label} must be a plain object of header names to string values; received ${describe(value)}`,
    );
  }
  const names = Object.keys(value as object);
  if (names.length === 0) return undefined;
  const copy = Object.create(null) as Record<string, string>;
  let bytes = 0;
  let copied = 0;
  for (const name of names) {
    if (!token.test(name)) {
      throw new InvalidArgumentError(
        `${label}: header name ${describe(name)} is not a token (letters, digits and !#$%&'*+-.^_\`|~ only)`,
      );
    }
    if (isReserved(name)) {
      throw new InvalidArgumentError(
        `${label}: header name ${describe(name)} is reserved (names starting with "${RESERVED_PREFIX}" are Keel's own)`,
      );
    }
    const text = (value as Record<string, unknown>)[name];
    if (typeof text !== 'string') {
      throw new InvalidArgumentError(
        `${label}: header ${describe(name)} must have a string value; received ${describe(text)}`,
      );
    }
    if (forbidden.test(text)) {
      throw new InvalidArgumentError(
        `${label}: header ${describe(name)} has a value with CR, LF or NUL, which would break the header block`,
      );
    }
    // NATS trims values on the wire; refusing what it would change keeps every engine the same.
    if (text !== text.trim()) {
      throw new InvalidArgumentError(
        `${label}: header ${describe(name)} has a value with leading or trailing whitespace; received ${describe(text)}`,
      );
    }
    // Names are tokens (ASCII); a value's UTF-8 length is its length unless it holds other characters.
    bytes += name.length + (isAscii(text) ? text.length : Buffer.byteLength(text));
    if (leaveOut === undefined || !leaveOut.includes(name)) {
      copy[name] = text;
      copied++;
    }
  }
  if (bytes > MAX_HEADER_BYTES) {
    throw new InvalidArgumentError(
      `${label} must hold at most ${MAX_HEADER_BYTES} bytes of names and values; received ${bytes} bytes`,
    );
  }
  return copied === 0 ? undefined : Object.freeze(copy);
}

/** The headers a request carries on the wire: the caller's, plus its budget. */
export function requestHeaders(user: MessageHeaders | undefined, timeoutMs: number): MessageHeaders {
  const wire = Object.create(null) as Record<string, string>;
  if (user !== undefined) Object.assign(wire, user);
  wire[TIMEOUT_HEADER] = String(timeoutMs);
  return wire;
}

/** What a received message's headers hold: the users' (Keel's own taken out) and the sender's budget. */
export interface ReadHeaders {
  readonly headers: MessageHeaders;
  /** The budget the sender gave, in ms; undefined when it gave none (or none readable). */
  readonly timeoutMs: number | undefined;
}

const digits = /^\d{1,16}$/;

/** Splits headers as received into the users' and Keel's own; reserved names never reach a handler. */
export function readHeaders(raw: MessageHeaders | undefined): ReadHeaders {
  if (raw === undefined) return { headers: noHeaders, timeoutMs: undefined };
  let user: Record<string, string> | undefined;
  let timeoutMs: number | undefined;
  for (const name in raw) {
    const value = raw[name] as string;
    if (isReserved(name)) {
      if (name === TIMEOUT_HEADER && digits.test(value)) timeoutMs = Number(value);
      continue;
    }
    user ??= Object.create(null) as Record<string, string>;
    user[name] = value;
  }
  return { headers: user === undefined ? noHeaders : Object.freeze(user), timeoutMs };
}
