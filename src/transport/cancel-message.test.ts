/** The cancel message a requester sends: its subject and its bytes, good and bad input. */
import { describe, expect, it } from 'vitest';
import { cancelSubject, decodeCancel, encodeCancel } from './cancel-message.ts';

const text = (s: string) => [...new TextEncoder().encode(s)];

describe('cancel message', () => {
  it('travels on the subject (or pattern) under _INBOX.keel-cancel.', () => {
    expect(cancelSubject('shapes.area')).toBe('_INBOX.keel-cancel.shapes.area');
    expect(cancelSubject('shapes.*')).toBe('_INBOX.keel-cancel.shapes.*');
    expect(cancelSubject('>')).toBe('_INBOX.keel-cancel.>');
  });

  it('round-trips the key and the reason', () => {
    for (const reason of ['abort', 'deadline'] as const) {
      expect(decodeCancel(encodeCancel('_INBOX.abc.12', reason))).toEqual({ key: '_INBOX.abc.12', reason });
    }
    expect([...encodeCancel('k', 'abort')]).toEqual([0x43, 1, 0x61, ...text('k')]);
    expect([...encodeCancel('k', 'deadline')]).toEqual([0x43, 1, 0x64, ...text('k')]);
  });

  const bad: [string, number[], RegExp][] = [
    ['nothing', [], /not a Keel cancel message/],
    ['no key', [0x43, 1, 0x61], /not a Keel cancel message/],
    ['another magic byte', [0x4b, 1, 0x61, ...text('k')], /not a Keel cancel message/],
    ['JSON', text('{"key":"k"}'), /not a Keel cancel message/],
    ['an unknown version', [0x43, 2, 0x61, ...text('k')], /unsupported Keel cancel version 2/],
    ['an unknown reason', [0x43, 1, 0x78, ...text('k')], /unknown cancel reason 120/],
    ['a key that is not UTF-8', [0x43, 1, 0x61, 0xff], /encoded data was not valid/],
    ['a key past 512 bytes', [0x43, 1, 0x61, ...text('k'.repeat(513))], /request key longer than 512 bytes/],
  ];
  for (const [name, input, message] of bad) {
    it(`refuses ${name}, saying why`, () => {
      expect(() => decodeCancel(new Uint8Array(input))).toThrow(TypeError);
      expect(() => decodeCancel(new Uint8Array(input))).toThrow(message);
    });
  }

  it('refuses to write an empty or oversized key', () => {
    expect(() => encodeCancel('', 'abort')).toThrow(RangeError);
    expect(() => encodeCancel('k'.repeat(513), 'abort')).toThrow(RangeError);
  });
});
