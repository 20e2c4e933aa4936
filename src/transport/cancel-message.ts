/**
 * The cancel message a requester sends when it stops waiting: where it goes and its bytes. Every answering
 * subscription on a subject also listens on that subject's cancel subject, so the cancel reaches whichever
 * member of a queue group took the request; the request's key (its reply address) says which call to abort.
 *
 * Layout: 'C' (0x43), version 1, reason (0x61 'a': the caller aborted; 0x64 'd': its deadline passed),
 * then the request key (UTF-8, 1 to 512 bytes).
 */

/** The subjects cancels travel on; under `_INBOX.` so that wildcard subscriptions never see them. */
export const CANCEL_PREFIX = '_INBOX.keel-cancel.';

/** Why the requester stopped waiting. */
export type CancelReason = 'abort' | 'deadline';

export interface CancelMessage {
  readonly key: string;
  readonly reason: CancelReason;
}

const magic = 0x43;
const version = 1;
const reasonByte = { abort: 0x61, deadline: 0x64 } as const;
const maxKeyBytes = 512;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The subject that cancels of requests on `subject` (a pattern, for a wildcard subscription) travel on. */
export function cancelSubject(subject: string): string {
  return CANCEL_PREFIX + subject;
}

export function encodeCancel(key: string, reason: CancelReason): Uint8Array {
  const bytes = encoder.encode(key);
  if (bytes.byteLength === 0 || bytes.byteLength > maxKeyBytes) {
    throw new RangeError(`a request key must be 1 to ${maxKeyBytes} bytes; received ${bytes.byteLength}`);
  }
  const out = new Uint8Array(3 + bytes.byteLength);
  out[0] = magic;
  out[1] = version;
  out[2] = reasonByte[reason];
  out.set(bytes, 3);
  return out;
}

/** Reads a cancel; throws a TypeError naming the defect when the bytes are not one. */
export function decodeCancel(bytes: Uint8Array): CancelMessage {
  if (bytes.byteLength < 4 || bytes[0] !== magic) throw new TypeError('not a Keel cancel message');
  if (bytes[1] !== version) throw new TypeError(`unsupported Keel cancel version ${bytes[1]}`);
  const reason =
    bytes[2] === reasonByte.abort ? 'abort' : bytes[2] === reasonByte.deadline ? 'deadline' : undefined;
  if (reason === undefined) throw new TypeError(`unknown cancel reason ${bytes[2]}`);
  if (bytes.byteLength - 3 > maxKeyBytes) throw new TypeError(`request key longer than ${maxKeyBytes} bytes`);
  return { reason, key: decoder.decode(bytes.subarray(3)) };
}
