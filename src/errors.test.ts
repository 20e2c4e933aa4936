import { describe, expect, it } from 'vitest';
import { checkDuration, checkOptions, InvalidArgumentError } from './errors.ts';

describe('checkOptions', () => {
  it('accepts undefined and objects whose keys are all known', () => {
    expect(() => checkOptions('Pool options', undefined, ['concurrency'])).not.toThrow();
    expect(() =>
      checkOptions('Pool options', { concurrency: 1 }, ['concurrency', 'maxQueued']),
    ).not.toThrow();
    expect(() => checkOptions('Pool options', {}, [])).not.toThrow();
  });

  it('refuses an unknown key, naming the call, the key and the known ones', () => {
    expect(() =>
      checkOptions('Pool options', { concurrency: 1, maxQueue: 5 }, ['concurrency', 'maxQueued']),
    ).toThrow(
      new InvalidArgumentError(
        'Pool options: unknown option "maxQueue"; known options: concurrency, maxQueued',
      ),
    );
    expect(() => checkOptions('X options', { a: 1 }, [])).toThrow(
      'X options: unknown option "a"; known options: none',
    );
  });

  it('refuses arrays, null and primitives', () => {
    for (const value of [null, [], 5, 'x', true]) {
      expect(() => checkOptions('Pool options', value, ['concurrency'])).toThrow(InvalidArgumentError);
      expect(() => checkOptions('Pool options', value, ['concurrency'])).toThrow(
        /^Pool options must be an options object/,
      );
    }
  });

  it('does not treat inherited names such as constructor or __proto__ as known', () => {
    const value = JSON.parse('{"__proto__": 1}') as object;
    expect(() => checkOptions('Pool options', value, ['concurrency'])).toThrow(/unknown option "__proto__"/);
  });
});

describe('checkDuration', () => {
  it('accepts finite durations of any length, and Infinity when allowed', () => {
    expect(checkDuration('timeoutMs', 0)).toBe(0);
    expect(checkDuration('timeoutMs', 2 ** 31)).toBe(2 ** 31);
    expect(checkDuration('timeoutMs', 1e15)).toBe(1e15);
    expect(checkDuration('timeoutMs', Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
  });

  it('refuses negative, NaN, non-numbers and (when not allowed) Infinity, naming the option', () => {
    for (const value of [-1, Number.NaN, '5', undefined, null, Number.NEGATIVE_INFINITY]) {
      expect(() => checkDuration('Transport.request() timeoutMs', value)).toThrow(
        /^Transport\.request\(\) timeoutMs must be a number of milliseconds ≥ 0 or Infinity; received /,
      );
    }
    expect(() => checkDuration('delay', Number.POSITIVE_INFINITY, { allowInfinity: false })).toThrow(
      'delay must be a number of milliseconds ≥ 0; received Infinity',
    );
    expect(() => checkDuration('interval', 0, { min: 1 })).toThrow(/≥ 1/);
  });
});
