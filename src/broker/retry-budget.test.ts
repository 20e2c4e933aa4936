import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { RetryBudget } from './retry-budget.ts';

describe('RetryBudget', () => {
  it('starts full and allows retries while more than half the capacity is left', () => {
    const budget = new RetryBudget({ maxTokens: 10, tokenRatio: 0.1 });
    expect(budget.stats()).toEqual({ tokens: 10, maxTokens: 10, calls: 0, retries: 0, throttled: 0 });
    // 10 → 9 → 8 → 7 → 6 → 5: five retries, then 5 is not more than half.
    const allowed = Array.from({ length: 8 }, () => budget.tryRetry());
    expect(allowed).toEqual([true, true, true, true, true, false, false, false]);
    expect(budget.stats()).toEqual({ tokens: 5, maxTokens: 10, calls: 0, retries: 5, throttled: 3 });
    expect(budget.canRetry).toBe(false);
  });

  it('adds tokenRatio of a token per call, exactly, and never past maxTokens', () => {
    const budget = new RetryBudget({ maxTokens: 10, tokenRatio: 0.1 });
    for (let i = 0; i < 5; i++) budget.tryRetry();
    expect(budget.stats().tokens).toBe(5);
    for (let i = 0; i < 10; i++) budget.recordCall();
    // Ten deposits of 0.1 make exactly one token (no float drift), so one more retry is allowed.
    expect(budget.stats().tokens).toBe(6);
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
    for (let i = 0; i < 1000; i++) budget.recordCall();
    expect(budget.stats().tokens).toBe(10);
    expect(budget.stats().calls).toBe(1010);
  });

  it('holds retries to about tokenRatio of calls during an outage (every call retried when allowed)', () => {
    const budget = new RetryBudget({ maxTokens: 10, tokenRatio: 0.1 });
    let retries = 0;
    const calls = 10_000;
    for (let i = 0; i < calls; i++) {
      budget.recordCall();
      // A caller that would retry each failure three times.
      for (let r = 0; r < 3 && budget.tryRetry(); r++) retries++;
    }
    expect(retries).toBeLessThanOrEqual(0.1 * calls + 10 / 2);
    expect(retries).toBeGreaterThanOrEqual(0.1 * calls - 1);
    expect(budget.stats().retries).toBe(retries);
    expect(budget.stats().throttled).toBeGreaterThan(0.8 * calls);
  });

  it('allows no retry at half capacity or below, until enough calls refill it', () => {
    const budget = new RetryBudget({ maxTokens: 4, tokenRatio: 0.5 });
    expect(budget.tryRetry()).toBe(true); // 4 → 3
    expect(budget.tryRetry()).toBe(true); // 3 → 2
    expect(budget.tryRetry()).toBe(false); // 2 is half: refused, nothing spent
    expect(budget.stats().tokens).toBe(2);
    budget.recordCall(); // 2.5
    expect(budget.canRetry).toBe(true);
    expect(budget.tryRetry()).toBe(true); // 2.5 → 1.5
    budget.recordCall(); // 2
    expect(budget.tryRetry()).toBe(false);
    expect(budget.stats()).toMatchObject({ tokens: 2, calls: 2, retries: 3, throttled: 2 });
  });

  it('refuses options outside their ranges, naming the option', () => {
    expect(() => new RetryBudget({ maxTokens: 0 })).toThrow(/RetryBudget maxTokens must be an integer ≥ 1/);
    expect(() => new RetryBudget({ maxTokens: 1001 })).toThrow(
      /RetryBudget maxTokens must be an integer from 1 to 1000/,
    );
    expect(() => new RetryBudget({ maxTokens: 2.5 })).toThrow(InvalidArgumentError);
    expect(() => new RetryBudget({ tokenRatio: 0 })).toThrow(
      /RetryBudget tokenRatio must be a number from 0.001 to 1; received 0/,
    );
    expect(() => new RetryBudget({ tokenRatio: 1.5 })).toThrow(/tokenRatio/);
    expect(() => new RetryBudget({ tokenRatio: Number.NaN })).toThrow(/tokenRatio/);
    expect(() => new RetryBudget({ tokenRatio: '0.1' as never })).toThrow(/received "0.1"/);
    expect(() => new RetryBudget({ maxToken: 5 } as never)).toThrow(
      'RetryBudget options: unknown option "maxToken"; known options: maxTokens, tokenRatio',
    );
    expect(() => new RetryBudget(null as never)).toThrow(/RetryBudget options must be an options object/);
  });
});
