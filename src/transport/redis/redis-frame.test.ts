/** The header Keel puts before a payload on a Redis channel: both versions, good and bad input. */
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FrameKind } from './redis-frame.ts';

const bytes = (...values: number[]) => new Uint8Array(values);
const text = (s: string) => [...new TextEncoder().encode(s)];

describe('redis frame', () => {
  it('round-trips kind, reply channel and body', () => {
    const body = new Uint8Array([1, 2, 3]);
    const frame = decodeFrame(encodeFrame(FrameKind.request, body, '_KEEL_INBOX.x.1'));
    expect(frame.kind).toBe(FrameKind.request);
    expect(frame.replyTo).toBe('_KEEL_INBOX.x.1');
    expect(frame.headers).toBeUndefined();
    expect([...frame.body]).toEqual([1, 2, 3]);
    const empty = decodeFrame(encodeFrame(FrameKind.message, new Uint8Array(0)));
    expect(empty).toMatchObject({ kind: FrameKind.message, replyTo: '' });
    expect(empty.body.byteLength).toBe(0);
  });

  it('writes a message without headers as version 1, byte for byte as before', () => {
    expect([...encodeFrame(FrameKind.message, bytes(7))]).toEqual([0x4b, 1, 1, 0, 0, 7]);
    expect([...encodeFrame(FrameKind.request, bytes(7), 'r', {})]).toEqual([
      0x4b,
      1,
      2,
      0,
      1,
      ...text('r'),
      7,
    ]);
  });

  it('writes a message with headers as version 2 and reads them back', () => {
    const headers = { 'x-trace': 'abc', note: 'café ✓', empty: '' };
    const encoded = encodeFrame(FrameKind.request, bytes(9, 9), '_KEEL_INBOX.y.2', headers);
    expect(encoded[1]).toBe(2);
    const frame = decodeFrame(encoded);
    expect(frame).toMatchObject({ kind: FrameKind.request, replyTo: '_KEEL_INBOX.y.2', headers });
    expect([...frame.body]).toEqual([9, 9]);
    expect(Object.getPrototypeOf(frame.headers)).toBeNull();
  });

  const good: [string, Uint8Array, Record<string, string> | undefined, number[]][] = [
    ['version 1, no reply', bytes(0x4b, 1, 1, 0, 0, 42), undefined, [42]],
    ['version 1, error reply', bytes(0x4b, 1, 4, 0, 0, ...text('{}')), undefined, text('{}')],
    ['version 2, no headers', bytes(0x4b, 2, 1, 0, 0, 0, 0, 42), {}, [42]],
    [
      'version 2, one header',
      bytes(0x4b, 2, 3, 0, 0, 0, 1, 0, 1, ...text('a'), 0, 2, ...text('bc'), 42),
      { a: 'bc' },
      [42],
    ],
    ['version 2, empty value', bytes(0x4b, 2, 1, 0, 0, 0, 1, 0, 1, ...text('a'), 0, 0), { a: '' }, []],
  ];
  for (const [name, input, headers, body] of good) {
    it(`reads ${name}`, () => {
      const frame = decodeFrame(input);
      expect(frame.headers === undefined ? undefined : { ...frame.headers }).toEqual(headers);
      expect([...frame.body]).toEqual(body);
    });
  }

  const bad: [string, Uint8Array, RegExp][] = [
    ['plain text', new TextEncoder().encode('plain text'), /not a Keel message/],
    ['too short', bytes(0x4b, 1, 1, 0), /not a Keel message/],
    ['an unknown version', bytes(0x4b, 9, 1, 0, 0), /unsupported Keel frame version 9/],
    ['an unknown kind', bytes(0x4b, 1, 7, 0, 0), /unknown frame kind 7/],
    ['kind 0', bytes(0x4b, 2, 0, 0, 0, 0, 0), /unknown frame kind 0/],
    ['a truncated reply channel', bytes(0x4b, 1, 2, 0, 9, 65), /truncated/],
    ['a reply channel that is not UTF-8', bytes(0x4b, 1, 2, 0, 1, 0xff), /encoded data was not valid/],
    ['no header count', bytes(0x4b, 2, 1, 0, 0, 0), /truncated Keel frame \(header count\)/],
    ['a missing header', bytes(0x4b, 2, 1, 0, 0, 0, 1), /truncated Keel frame \(header name\)/],
    [
      'a truncated name',
      bytes(0x4b, 2, 1, 0, 0, 0, 1, 0, 5, ...text('ab')),
      /truncated Keel frame \(header name\)/,
    ],
    [
      'a missing value',
      bytes(0x4b, 2, 1, 0, 0, 0, 1, 0, 1, ...text('a')),
      /truncated Keel frame \(header value\)/,
    ],
    [
      'a truncated value',
      bytes(0x4b, 2, 1, 0, 0, 0, 1, 0, 1, ...text('a'), 0, 3, ...text('b')),
      /truncated Keel frame \(header value\)/,
    ],
    ['an empty name', bytes(0x4b, 2, 1, 0, 0, 0, 1, 0, 0, 0, 0), /invalid header name ""/],
    [
      'a name with a space',
      bytes(0x4b, 2, 1, 0, 0, 0, 1, 0, 3, ...text('a b'), 0, 0),
      /invalid header name "a b"/,
    ],
    [
      'a value with CR LF',
      bytes(0x4b, 2, 1, 0, 0, 0, 1, 0, 1, ...text('a'), 0, 3, ...text('x\r\n')),
      /header "a" has CR, LF or NUL/,
    ],
    [
      'a duplicate name',
      bytes(0x4b, 2, 1, 0, 0, 0, 2, 0, 1, ...text('a'), 0, 0, 0, 1, ...text('a'), 0, 0),
      /duplicate header "a"/,
    ],
    [
      'a name that would set a prototype',
      bytes(
        0x4b,
        2,
        1,
        0,
        0,
        0,
        2,
        0,
        9,
        ...text('__proto__'),
        0,
        1,
        ...text('x'),
        0,
        9,
        ...text('__proto__'),
        0,
        0,
      ),
      /duplicate header "__proto__"/,
    ],
  ];
  for (const [name, input, message] of bad) {
    it(`refuses ${name}, saying why`, () => {
      expect(() => decodeFrame(input)).toThrow(TypeError);
      expect(() => decodeFrame(input)).toThrow(message);
    });
  }

  it('refuses to write what the layout cannot hold', () => {
    expect(() => encodeFrame(FrameKind.message, bytes(), 'r'.repeat(70_000))).toThrow(RangeError);
    expect(() => encodeFrame(FrameKind.message, bytes(), '', { a: 'v'.repeat(70_000) })).toThrow(RangeError);
  });
});
