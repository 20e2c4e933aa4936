/**
 * The envelope Keel puts around a payload on a Redis channel: Redis pub/sub carries bytes only, so the
 * kind of message and the reply channel of a request travel in a small header before the payload.
 *
 * Layout: 'K' (0x4b), version 1, kind, reply-channel length (uint16, big-endian), reply channel (UTF-8),
 * then the payload bytes (for an error reply: a JSON RemoteErrorInfo).
 */

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
  readonly body: Uint8Array;
}

const magic = 0x4b;
const version = 1;
const headerSize = 5;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeFrame(kind: FrameKind, body: Uint8Array, replyTo = ''): Buffer {
  const reply = encoder.encode(replyTo);
  if (reply.byteLength > 0xffff) throw new RangeError('reply channel longer than 65535 bytes');
  const out = Buffer.allocUnsafe(headerSize + reply.byteLength + body.byteLength);
  out[0] = magic;
  out[1] = version;
  out[2] = kind;
  out.writeUInt16BE(reply.byteLength, 3);
  out.set(reply, headerSize);
  out.set(body, headerSize + reply.byteLength);
  return out;
}

/** Reads a frame; throws a TypeError naming the defect when the bytes are not a Keel frame. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.byteLength < headerSize || bytes[0] !== magic) {
    throw new TypeError('not a Keel message (missing the Keel header; was it published by another client?)');
  }
  if (bytes[1] !== version) throw new TypeError(`unsupported Keel frame version ${bytes[1]}`);
  const kind = bytes[2] as FrameKind;
  if (kind < FrameKind.message || kind > FrameKind.errorReply)
    throw new TypeError(`unknown frame kind ${kind}`);
  const replyLength = ((bytes[3] as number) << 8) | (bytes[4] as number);
  if (bytes.byteLength < headerSize + replyLength) throw new TypeError('truncated Keel frame');
  return {
    kind,
    replyTo: decoder.decode(bytes.subarray(headerSize, headerSize + replyLength)),
    body: bytes.subarray(headerSize + replyLength),
  };
}
