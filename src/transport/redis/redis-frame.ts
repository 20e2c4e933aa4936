/**
 * The envelope Keel puts around a payload on a Redis channel: Redis pub/sub carries bytes only, so the
 * kind of message, the reply channel of a request and the headers travel in a small header before the
 * payload.
 *
 * Version 1: 'K' (0x4b), 1, kind, reply-channel length (uint16, big-endian), reply channel (UTF-8), then
 * the payload bytes (for an error reply: a JSON RemoteErrorInfo).
 * Version 2 (a message with headers): 'K', 2, kind, reply-channel length, reply channel, header count
 * (uint16), then for each header its name length (uint16), name (ASCII token), value length (uint16),
 * value (UTF-8), then the payload bytes.
 *
 * A message without headers is written as version 1, byte for byte as before, so senders and receivers of
 * either version read each other's plain messages and replies; a message with headers needs a receiver
 * that reads version 2.
 */
import type { MessageHeaders } from '../headers.ts';

export const FrameKind = {
  message: 1,
  request: 2,
  reply: 3,
  errorReply: 4,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export interface Frame {
  readonly kind: FrameKind;
  readonly replyTo: string;
  /** Undefined when the frame carries none (every version 1 frame). */
  readonly headers: MessageHeaders | undefined;
  readonly body: Uint8Array;
}

const magic = 0x4b;
const headerSize = 5;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
/** What a header name read from the wire may be: the token characters publish() allows. */
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const forbidden = /[\r\n\0]/;

export function encodeFrame(
  kind: FrameKind,
  body: Uint8Array,
  replyTo = '',
  headers?: MessageHeaders,
): Buffer {
  const reply = encoder.encode(replyTo);
  if (reply.byteLength > 0xffff) throw new RangeError('reply channel longer than 65535 bytes');
  let block: Uint8Array[] | undefined;
  let blockSize = 0;
  if (headers !== undefined) {
    for (const name in headers) {
      block ??= [];
      const n = encoder.encode(name);
      const v = encoder.encode(headers[name] as string);
      if (n.byteLength > 0xffff || v.byteLength > 0xffff)
        throw new RangeError('header name or value longer than 65535 bytes');
      block.push(n, v);
      blockSize += 4 + n.byteLength + v.byteLength;
    }
  }
  if (block !== undefined && block.length / 2 > 0xffff) throw new RangeError('more than 65535 headers');
  const extra = block === undefined ? 0 : 2 + blockSize;
  const out = Buffer.allocUnsafe(headerSize + reply.byteLength + extra + body.byteLength);
  out[0] = magic;
  out[1] = block === undefined ? 1 : 2;
  out[2] = kind;
  out.writeUInt16BE(reply.byteLength, 3);
  out.set(reply, headerSize);
  let at = headerSize + reply.byteLength;
  if (block !== undefined) {
    out.writeUInt16BE(block.length / 2, at);
    at += 2;
    for (const part of block) {
      out.writeUInt16BE(part.byteLength, at);
      out.set(part, at + 2);
      at += 2 + part.byteLength;
    }
  }
  out.set(body, at);
  return out;
}

function uint16(bytes: Uint8Array, at: number): number {
  return ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
}

/** Reads a frame of version 1 or 2; throws a TypeError naming the defect when the bytes are not a Keel frame. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.byteLength < headerSize || bytes[0] !== magic) {
    throw new TypeError('not a Keel message (missing the Keel header; was it published by another client?)');
  }
  const version = bytes[1];
  if (version !== 1 && version !== 2) throw new TypeError(`unsupported Keel frame version ${version}`);
  const kind = bytes[2] as FrameKind;
  if (kind < FrameKind.message || kind > FrameKind.errorReply)
    throw new TypeError(`unknown frame kind ${kind}`);
  const replyLength = uint16(bytes, 3);
  let at = headerSize + replyLength;
  if (bytes.byteLength < at) throw new TypeError('truncated Keel frame');
  const replyTo = decoder.decode(bytes.subarray(headerSize, at));
  let headers: Record<string, string> | undefined;
  if (version === 2) {
    if (bytes.byteLength < at + 2) throw new TypeError('truncated Keel frame (header count)');
    const count = uint16(bytes, at);
    at += 2;
    headers = Object.create(null) as Record<string, string>;
    for (let i = 0; i < count; i++) {
      const read = (what: string): string => {
        if (bytes.byteLength < at + 2) throw new TypeError(`truncated Keel frame (header ${what})`);
        const length = uint16(bytes, at);
        if (bytes.byteLength < at + 2 + length) throw new TypeError(`truncated Keel frame (header ${what})`);
        const text = decoder.decode(bytes.subarray(at + 2, at + 2 + length));
        at += 2 + length;
        return text;
      };
      const name = read('name');
      const value = read('value');
      if (!token.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
      if (forbidden.test(value))
        throw new TypeError(`header ${JSON.stringify(name)} has CR, LF or NUL in its value`);
      if (name in headers) throw new TypeError(`duplicate header ${JSON.stringify(name)}`);
      headers[name] = value;
    }
  }
  return { kind, replyTo, headers, body: bytes.subarray(at) };
}
