/** The event bridge's envelope: what it writes, and what it reads or refuses, by table. */
import { describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  envelopeVersion,
  maxIdLength,
  maxOriginLength,
} from './event-bridge-envelope.ts';
import { jsonSerializer } from './serializer.ts';

const origin = '0b6f3c1e-6a51-4b8e-9a55-1f0c2d3e4f50';
const id = '7d1c5a9e-2b3f-4c6d-8e9f-0a1b2c3d4e5f';

describe('event bridge envelope', () => {
  const good: [string, Envelope][] = [
    ['an inline payload', { origin, id, topic: 'shape.created', payload: { id: 7 } }],
    ['no payload', { origin, id, topic: 'tick', payload: undefined }],
    [
      'a payload of the bridge serializer',
      { origin, id, topic: 'a.b.c', codec: 'json+bigint', data: 'e30=' },
    ],
    [
      'the longest origin and id',
      { origin: 'o'.repeat(maxOriginLength), id: 'i'.repeat(maxIdLength), topic: 'x', payload: 1 },
    ],
  ];
  for (const [name, envelope] of good) {
    it(`round-trips ${name}, through JSON too`, () => {
      const encoded = encodeEnvelope(envelope);
      expect(encoded.v).toBe(envelopeVersion);
      expect(decodeEnvelope(encoded)).toEqual({ ok: true, envelope });
      const wired = jsonSerializer.decode(jsonSerializer.encode(encoded));
      expect(decodeEnvelope(wired)).toEqual({ ok: true, envelope });
    });
  }

  it('writes exactly the fields of version 2', () => {
    expect(encodeEnvelope({ origin, id, topic: 't', payload: 1 })).toEqual({
      v: 2,
      origin,
      id,
      topic: 't',
      payload: 1,
    });
    expect(Object.keys(encodeEnvelope({ origin, id, topic: 't', codec: 'c', data: '' }))).toEqual([
      'v',
      'origin',
      'id',
      'topic',
      'codec',
      'data',
    ]);
  });

  it('ignores fields it does not know', () => {
    const decoded = decodeEnvelope({ v: 2, origin, id, topic: 't', payload: 1, seq: 9, extra: true });
    expect(decoded).toEqual({ ok: true, envelope: { origin, id, topic: 't', payload: 1 } });
  });

  const base = { v: 2, origin, id, topic: 'shape.created', payload: 1 };
  const bad: [string, unknown, RegExp, { origin?: string; topic?: string }][] = [
    ['text', 'hello', /^it is not an event envelope; received "hello"$/, {}],
    ['null', null, /^it is not an event envelope; received null$/, {}],
    ['an array', [1], /^it is not an event envelope; received an array of length 1$/, {}],
    ['no version', { ...base, v: undefined }, /no version 2 field "v"/, {}],
    [
      'version 1',
      { ...base, v: 1 },
      /^it is an event envelope of version 1; this bridge reads version 2$/,
      {},
    ],
    ['version 3', { ...base, v: 3 }, /version 3; this bridge reads version 2/, {}],
    ['a version as text', { ...base, v: '2' }, /no version 2 field "v"/, {}],
    [
      'no origin',
      { ...base, origin: undefined },
      /^its origin must be a string of 1 to 64 characters; received undefined$/,
      {},
    ],
    [
      'an empty origin',
      { ...base, origin: '' },
      /origin must be a string of 1 to 64 characters; received ""$/,
      {},
    ],
    [
      'an origin of 65 characters',
      { ...base, origin: 'o'.repeat(65) },
      /origin must be a string of 1 to 64/,
      {},
    ],
    ['an origin of 512 KB', { ...base, origin: 'o'.repeat(512 * 1024) }, /received "o{57}\.\.\."$/, {}],
    [
      'a numeric origin',
      { ...base, origin: 7 },
      /origin must be a string of 1 to 64 characters; received 7$/,
      {},
    ],
    [
      'no id',
      { ...base, id: undefined },
      /^its id must be a string of 1 to 64 characters; received undefined$/,
      { origin },
    ],
    ['a numeric id', { ...base, id: 1 }, /its id must be a string .*; received 1$/, { origin }],
    [
      'an id of 65 characters',
      { ...base, id: 'i'.repeat(65) },
      /its id must be a string of 1 to 64/,
      { origin },
    ],
    ['no topic', { ...base, topic: undefined }, /its topic must be a topic/, { origin }],
    ['the "*" topic', { ...base, topic: '*' }, /its topic must be a topic that can be emitted/, { origin }],
    [
      'an empty segment',
      { ...base, topic: 'a..b' },
      /its topic must be a topic: .*received "a\.\.b"/,
      { origin },
    ],
    [
      'an empty codec',
      { ...base, codec: '', data: '' },
      /its codec must be a serializer's name; received ""/,
      { origin, topic: 'shape.created' },
    ],
    [
      'a numeric codec',
      { ...base, codec: 1, data: '' },
      /its codec must be .*; received 1/,
      { origin, topic: 'shape.created' },
    ],
    [
      'a codec without data',
      { ...base, codec: 'c' },
      /its data must be base64 text; received undefined/,
      { origin, topic: 'shape.created' },
    ],
    [
      'binary data',
      { ...base, codec: 'c', data: [1] },
      /its data must be base64 text; received an array/,
      { origin, topic: 'shape.created' },
    ],
  ];
  for (const [name, value, reason, known] of bad) {
    it(`refuses ${name}, saying why`, () => {
      const decoded = decodeEnvelope(value);
      expect(decoded.ok).toBe(false);
      if (decoded.ok) return;
      expect(decoded.reason).toMatch(reason);
      expect({ origin: decoded.origin, topic: decoded.topic }).toEqual({
        origin: known.origin,
        topic: known.topic,
      });
    });
  }
});
