/** The broker's envelopes: what they write, and what they read or refuse, by table. */
import { describe, expect, it } from 'vitest';
import { jsonSerializer } from '../transport/serializer.ts';
import {
  type CallEnvelope,
  decodeCall,
  decodeEvent,
  decodeReply,
  encodeCall,
  encodeEvent,
  encodeReply,
  maxKeyLength,
  type ReplyEnvelope,
  wireVersion,
} from './wire.ts';

const viaJson = (value: unknown) => jsonSerializer.decode(jsonSerializer.encode(value));

describe('broker wire: calls', () => {
  const good: [string, CallEnvelope][] = [
    ['params, depth', { params: { radius: 2 }, depth: 1, key: undefined, caller: undefined }],
    ['no params', { params: undefined, depth: 3, key: undefined, caller: undefined }],
    ['a key and a caller', { params: [1, 2], depth: 2, key: 'order-7', caller: 'node-a' }],
    ['the longest key', { params: null, depth: 1, key: 'k'.repeat(maxKeyLength), caller: 'n' }],
  ];
  for (const [name, call] of good) {
    it(`round-trips ${name}, through JSON too`, () => {
      const encoded = encodeCall(call);
      expect(encoded.v).toBe(wireVersion);
      expect(decodeCall(encoded)).toEqual({ ok: true, value: call });
      const wired = decodeCall(viaJson(encoded));
      expect(wired.ok && wired.value.depth).toBe(call.depth);
    });
  }

  it('writes only the fields it has', () => {
    expect(encodeCall({ params: 1, depth: 1 })).toEqual({ v: 1, params: 1, depth: 1 });
  });

  const base = { v: 1, params: 1, depth: 1 };
  const bad: [string, unknown, RegExp][] = [
    ['text', 'call', /^it is not a broker call envelope; received "call"$/],
    ['null', null, /not a broker call envelope; received null/],
    ['an array', [], /received an array of length 0/],
    ['no version', { ...base, v: undefined }, /no version 1 field "v"/],
    [
      'version 2',
      { ...base, v: 2 },
      /^it is a broker call envelope of version 2; this broker reads version 1$/,
    ],
    ['a depth of 0', { ...base, depth: 0 }, /^its depth must be an integer ≥ 1; received 0$/],
    ['a fractional depth', { ...base, depth: 1.5 }, /depth must be an integer/],
    ['a depth as text', { ...base, depth: '1' }, /depth must be an integer ≥ 1; received "1"/],
    ['an empty key', { ...base, key: '' }, /^its key must be a string of 1 to 256 characters/],
    ['a key too long', { ...base, key: 'k'.repeat(maxKeyLength + 1) }, /its key must be/],
    ['a caller as a number', { ...base, caller: 7 }, /^its caller must be a string/],
  ];
  for (const [name, value, reason] of bad) {
    it(`refuses ${name}, saying why`, () => {
      const decoded = decodeCall(value);
      expect(decoded.ok).toBe(false);
      expect(!decoded.ok && decoded.reason).toMatch(reason);
    });
  }
});

describe('broker wire: replies', () => {
  const error = {
    name: 'OrderError',
    code: 'KEEL_ORDER',
    message: 'no stock',
    retryable: true,
    nodeId: 'n1',
  };
  const good: [string, ReplyEnvelope][] = [
    ['a result', { ok: true, result: { id: 'a' } }],
    ['no result', { ok: true, result: undefined }],
    ['a result and the serving node', { ok: true, result: 7, nodeId: 'server-1' }],
    ['an error', { ok: false, error }],
    [
      'an error with data and stack',
      { ok: false, error: { ...error, data: { sku: 3 }, stack: 'Error: x\n at y' } },
    ],
  ];
  for (const [name, reply] of good) {
    it(`round-trips ${name}, through JSON too`, () => {
      const encoded = encodeReply(reply);
      expect(decodeReply(encoded)).toEqual({ ok: true, value: reply });
      if (reply.ok && reply.result === undefined) return; // JSON drops an undefined field
      expect(decodeReply(viaJson(encoded))).toEqual({ ok: true, value: reply });
    });
  }

  const bad: [string, unknown, RegExp][] = [
    ['a number', 5, /^it is not a broker reply envelope; received 5$/],
    ['version 0', { v: 0, ok: true }, /version 0; this broker reads version 1/],
    ['ok as text', { v: 1, ok: 'yes' }, /^its ok must be true or false; received "yes"$/],
    [
      'an empty serving node',
      { v: 1, ok: true, result: 1, nodeId: '' },
      /^its nodeId must be a string of 1 to 256/,
    ],
    ['a serving node as number', { v: 1, ok: true, result: 1, nodeId: 3 }, /^its nodeId must be a string/],
    ['no error', { v: 1, ok: false }, /^its error must be an object; received undefined$/],
    [
      'an error without code',
      { v: 1, ok: false, error: { ...error, code: undefined } },
      /error code must be a string/,
    ],
    [
      'an error without node',
      { v: 1, ok: false, error: { ...error, nodeId: '' } },
      /error nodeId must be a string/,
    ],
    [
      'a message as number',
      { v: 1, ok: false, error: { ...error, message: 1 } },
      /error message must be a string/,
    ],
    [
      'retryable as text',
      { v: 1, ok: false, error: { ...error, retryable: 'no' } },
      /retryable must be a boolean/,
    ],
    [
      'a stack as object',
      { v: 1, ok: false, error: { ...error, stack: {} } },
      /error stack must be a string/,
    ],
  ];
  for (const [name, value, reason] of bad) {
    it(`refuses ${name}, saying why`, () => {
      const decoded = decodeReply(value);
      expect(decoded.ok).toBe(false);
      expect(!decoded.ok && decoded.reason).toMatch(reason);
    });
  }
});

describe('broker wire: events', () => {
  it('round-trips a payload and refuses another version', () => {
    expect(decodeEvent(viaJson(encodeEvent({ payload: { id: 1 } })))).toEqual({
      ok: true,
      value: { payload: { id: 1 } },
    });
    expect(decodeEvent({ v: 9, payload: 1 })).toEqual({
      ok: false,
      reason: 'it is a broker event envelope of version 9; this broker reads version 1',
    });
  });
});
