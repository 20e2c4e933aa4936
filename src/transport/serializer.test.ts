/** The default JSON serializer. */
import { describe, expect, it } from 'vitest';
import { jsonSerializer } from './serializer.ts';

describe('jsonSerializer', () => {
  it('round-trips JSON values, and undefined as zero bytes', () => {
    for (const value of [null, 0, 'é', [1, { a: true }], { nested: { x: [null] } }]) {
      expect(jsonSerializer.decode(jsonSerializer.encode(value))).toEqual(value);
    }
    expect(jsonSerializer.encode(undefined).byteLength).toBe(0);
    // Exactly the UTF-8 bytes of the JSON text, though cut from a shared pool.
    const bytes = jsonSerializer.encode({ name: 'é' });
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...bytes]).toEqual([...new TextEncoder().encode('{"name":"é"}')]);
    expect(jsonSerializer.decode(new Uint8Array(0))).toBeUndefined();
  });

  it('refuses what JSON cannot hold, and bytes that are not UTF-8 JSON', () => {
    expect(() => jsonSerializer.encode(1n)).toThrow(TypeError);
    expect(() => jsonSerializer.encode(() => {})).toThrow(/JSON cannot represent a function/);
    expect(() => jsonSerializer.decode(new TextEncoder().encode('{oops'))).toThrow(SyntaxError);
    expect(() => jsonSerializer.decode(new Uint8Array([0xff, 0xfe]))).toThrow(TypeError);
  });
});
