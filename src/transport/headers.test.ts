/** Header checks: what senders may pass, and how received headers split into users' and Keel's own. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { checkHeaders, noHeaders, readHeaders, requestHeaders } from './headers.ts';

describe('headers', () => {
  it('returns a frozen copy of good headers, or undefined for none', () => {
    expect(checkHeaders('h', undefined)).toBeUndefined();
    expect(checkHeaders('h', {})).toBeUndefined();
    const given = { a: '1', "!#$%&'*+-.^_`|~": 'symbols', Z9: 'ünïcödé value', e: '' };
    const checked = checkHeaders('h', given);
    expect(checked).toEqual(given);
    expect(checked).not.toBe(given);
    expect(Object.isFrozen(checked)).toBe(true);
    expect(checkHeaders('h', Object.assign(Object.create(null), { a: 'b' }))).toEqual({ a: 'b' });
  });

  it('counts names and UTF-8 value bytes against the bound', () => {
    expect(checkHeaders('h', { n: 'é'.repeat(4095) })).toBeDefined(); // 1 + 8190 bytes
    expect(() => checkHeaders('h', { n: 'é'.repeat(4096) })).toThrow(/received 8193 bytes/);
    expect(() => checkHeaders('h', { n: 'x'.repeat(9000) })).toThrow(InvalidArgumentError);
  });

  it('puts the budget in the request headers, beside the caller headers', () => {
    expect({ ...requestHeaders(undefined, 5000) }).toEqual({ 'keel-timeout': '5000' });
    expect({ ...requestHeaders({ a: 'b' }, 2 ** 40) }).toEqual({ a: 'b', 'keel-timeout': '1099511627776' });
  });

  it("takes Keel's own headers out of what a handler sees, and reads the budget", () => {
    expect(readHeaders(undefined)).toEqual({ headers: noHeaders, timeoutMs: undefined });
    expect(readHeaders({ 'keel-timeout': '250', a: 'b', 'Keel-Error': 'x' })).toEqual({
      headers: { a: 'b' },
      timeoutMs: 250,
    });
    const only = readHeaders({ 'keel-timeout': '250' });
    expect(only.headers).toBe(noHeaders);
  });

  it('ignores a budget it cannot read (no deadline rather than a wrong one)', () => {
    for (const bad of ['', '-1', '1.5', 'soon', '1e3', ' 5', '12345678901234567']) {
      expect(readHeaders({ 'keel-timeout': bad }).timeoutMs, bad).toBeUndefined();
    }
  });
});
