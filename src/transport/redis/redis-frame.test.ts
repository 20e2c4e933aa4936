/** The header Keel puts before a payload on a Redis channel. */
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FrameKind } from './redis-frame.ts';

describe('redis frame', () => {
  it('round-trips kind, reply channel and body', () => {
    const body = new Uint8Array([1, 2, 3]);
    const frame = decodeFrame(encodeFrame(FrameKind.request, body, '_KEEL_INBOX.x.1'));
    expect(frame.kind).toBe(FrameKind.request);
    expect(frame.replyTo).toBe('_KEEL_INBOX.x.1');
    expect([...frame.body]).toEqual([1, 2, 3]);
    const empty = decodeFrame(encodeFrame(FrameKind.message, new Uint8Array(0)));
    expect(empty).toMatchObject({ kind: FrameKind.message, replyTo: '' });
    expect(empty.body.byteLength).toBe(0);
  });

  it('rejects bytes that are not a Keel frame, saying why', () => {
    expect(() => decodeFrame(new TextEncoder().encode('plain text'))).toThrow(/not a Keel message/);
    expect(() => decodeFrame(new Uint8Array([0x4b, 9, 1, 0, 0]))).toThrow(/unsupported Keel frame version 9/);
    expect(() => decodeFrame(new Uint8Array([0x4b, 1, 7, 0, 0]))).toThrow(/unknown frame kind 7/);
    expect(() => decodeFrame(new Uint8Array([0x4b, 1, 2, 0, 9, 65]))).toThrow(/truncated/);
  });
});
