import { describe, expect, it } from 'vitest';
import { randomHex, randomRequestId, uuidOf } from './random-ids.ts';

describe('random ids', () => {
  it('randomRequestId makes version 4 UUIDs with the RFC variant, none repeated across pool refills', () => {
    const seen = new Set<string>();
    // 5,000 ids take 80,000 bytes: more than one pool of 64 KiB, so the refill is crossed.
    for (let i = 0; i < 5000; i++) {
      const id = randomRequestId();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(5000);
  });

  it('randomHex gives the bytes asked for as lowercase hex, and every nibble value turns up', () => {
    const hex = randomHex(24);
    expect(hex).toMatch(/^[0-9a-f]{48}$/);
    const digits = new Set([...Array.from({ length: 200 }, () => randomHex(8)).join('')]);
    expect(digits.size).toBe(16);
  });

  it('uuidOf sets the version and variant bits of the digits it is given and keeps the others', () => {
    expect(uuidOf('0123456789abcdef0123456789abcdef')).toBe('01234567-89ab-4def-8123-456789abcdef');
    expect(uuidOf('ffffffffffffffffffffffffffffffff')).toBe('ffffffff-ffff-4fff-bfff-ffffffffffff');
  });
});
