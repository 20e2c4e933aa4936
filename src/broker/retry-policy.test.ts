import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, KeelError } from '../errors.ts';
import { CircuitOpenError } from './resilience-errors.ts';
import { RetryBudget } from './retry-budget.ts';
import { RetryPolicy } from './retry-policy.ts';

const transient = (): KeelError => new KeelError('KEEL_TEST_TRANSIENT', 'lost', { retryable: true });
const final = (): KeelError => new KeelError('KEEL_TEST_FINAL', 'invalid', { retryable: false });

/** A seeded generator (mulberry32), so jitter is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A function failing with each error given in turn, then returning 'ok'. */
function failing(...errors: unknown[]): { fn: (attempt: number) => Promise<string>; attempts: number[] } {
  const attempts: number[] = [];
  return {
    attempts,
    fn: async (attempt) => {
      attempts.push(attempt);
      const error = errors.shift();
      if (error !== undefined) throw error;
      return 'ok';
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RetryPolicy backoff', () => {
  it('grows the ceiling by factor from minDelayMs and caps it at maxDelayMs', () => {
    const policy = new RetryPolicy({ minDelayMs: 50, maxDelayMs: 1000, factor: 2 });
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => policy.ceiling(n))).toEqual([50, 100, 200, 400, 800, 1000, 1000]);
    // Far past the point where factor ** n overflows, still the cap (not NaN or Infinity).
    expect(policy.ceiling(5000)).toBe(1000);
    expect(new RetryPolicy({ minDelayMs: 0, maxDelayMs: 0 }).ceiling(3)).toBe(0);
  });

  it('waits a full-jitter time: between 0 and the ceiling, as the injected random says', () => {
    const edges = [0, 0.5, 0.999999];
    const policy = new RetryPolicy({
      minDelayMs: 100,
      maxDelayMs: 1000,
      random: () => edges.shift() as number,
    });
    expect(policy.delay(1)).toBe(0);
    expect(policy.delay(2)).toBe(100);
    expect(policy.delay(3)).toBeCloseTo(399.9996, 4);
  });

  it('keeps every jittered wait within [0, ceiling] over many seeded draws, spread across the range', () => {
    const policy = new RetryPolicy({ minDelayMs: 10, maxDelayMs: 500, random: seeded(42) });
    for (let retry = 1; retry <= 8; retry++) {
      const ceiling = policy.ceiling(retry);
      const waits = Array.from({ length: 500 }, () => policy.delay(retry));
      expect(Math.min(...waits)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...waits)).toBeLessThanOrEqual(ceiling);
      // Full jitter, not equal jitter: waits reach both the bottom and the top tenth of the range.
      expect(waits.some((w) => w < ceiling * 0.1)).toBe(true);
      expect(waits.some((w) => w > ceiling * 0.9)).toBe(true);
    }
  });

  it("waits at least an error's retryAfterMs (an open circuit)", () => {
    const policy = new RetryPolicy({ minDelayMs: 10, maxDelayMs: 10, random: () => 0.5 });
    expect(policy.delay(1, new CircuitOpenError('a', 3000))).toBe(3000);
    expect(policy.delay(1, new CircuitOpenError('a', 1))).toBe(5);
    expect(policy.delay(1, { retryAfterMs: Number.POSITIVE_INFINITY })).toBe(5);
  });
});

describe('RetryPolicy decisions', () => {
  it('retries a retryable failure of an idempotent call, up to `retries` times', async () => {
    const policy = new RetryPolicy({ retries: 2, minDelayMs: 0, maxDelayMs: 0 });
    const { fn, attempts } = failing(transient(), transient());
    await expect(policy.run(fn, { idempotent: true })).resolves.toBe('ok');
    expect(attempts).toEqual([1, 2, 3]);

    const always = failing(transient(), transient(), transient(), transient());
    const error = await policy.run(always.fn, { idempotent: true }).catch((e: unknown) => e);
    expect((error as KeelError).code).toBe('KEEL_TEST_TRANSIENT');
    expect(always.attempts).toEqual([1, 2, 3]);
    expect(policy.stats()).toMatchObject({ retries: 4, exhausted: 1 });
  });

  it('never retries a call that is not safe to repeat, whatever failed', async () => {
    const policy = new RetryPolicy({ minDelayMs: 0, maxDelayMs: 0 });
    const { fn, attempts } = failing(transient());
    await expect(policy.run(fn, { idempotent: false })).rejects.toMatchObject({
      code: 'KEEL_TEST_TRANSIENT',
    });
    expect(attempts).toEqual([1]);
    expect(policy.stats()).toMatchObject({ retries: 0, unsafe: 1 });
    expect(policy.shouldRetry(transient(), 1, false)).toBe(false);
    expect(policy.shouldRetry(transient(), 1, true)).toBe(true);
  });

  it('never retries an error that is not retryable, nor a plain Error by default', async () => {
    const policy = new RetryPolicy({ minDelayMs: 0, maxDelayMs: 0 });
    const first = failing(final());
    await expect(policy.run(first.fn, { idempotent: true })).rejects.toMatchObject({
      code: 'KEEL_TEST_FINAL',
    });
    expect(first.attempts).toEqual([1]);
    const plain = failing(new Error('boom'));
    await expect(policy.run(plain.fn, { idempotent: true })).rejects.toThrow('boom');
    expect(plain.attempts).toEqual([1]);
    expect(policy.stats().retries).toBe(0);
  });

  it('asks retryIf about other errors, but an error marked retryable: false always ends the call', async () => {
    const retryIf = vi.fn((error: unknown) => error instanceof Error);
    const policy = new RetryPolicy({ minDelayMs: 0, maxDelayMs: 0, retryIf });
    const plain = failing(new Error('flaky'));
    await expect(policy.run(plain.fn, { idempotent: true })).resolves.toBe('ok');
    expect(retryIf).toHaveBeenCalledWith(expect.any(Error), 1);
    retryIf.mockClear();
    const marked = failing(final());
    await expect(policy.run(marked.fn, { idempotent: true })).rejects.toMatchObject({
      code: 'KEEL_TEST_FINAL',
    });
    expect(retryIf).not.toHaveBeenCalled();
  });

  it('records one call on the budget and spends a token per retry; stops when the budget refuses', async () => {
    const budget = new RetryBudget({ maxTokens: 4, tokenRatio: 0.1 });
    const policy = new RetryPolicy({ retries: 5, minDelayMs: 0, maxDelayMs: 0 });
    const { fn, attempts } = failing(transient(), transient(), transient(), transient());
    // The call's deposit finds the bucket full (4); retries take it to 3, then 2, and 2 is not above half.
    await expect(policy.run(fn, { idempotent: true, budget })).rejects.toMatchObject({
      code: 'KEEL_TEST_TRANSIENT',
    });
    expect(attempts).toEqual([1, 2, 3]);
    expect(budget.stats()).toMatchObject({ calls: 1, retries: 2, throttled: 1 });
    expect(policy.stats()).toMatchObject({ retries: 2, throttled: 1 });
  });

  it('keeps a full outage from multiplying load: tries stay within calls × (1 + tokenRatio) plus half the bucket', async () => {
    const budget = new RetryBudget({ maxTokens: 10, tokenRatio: 0.1 });
    const policy = new RetryPolicy({ retries: 3, minDelayMs: 0, maxDelayMs: 0 });
    let tries = 0;
    const calls = 1000;
    for (let i = 0; i < calls; i++) {
      await policy
        .run(
          async () => {
            tries++;
            throw transient();
          },
          { idempotent: true, budget },
        )
        .catch(() => {});
    }
    // Without the budget a policy of 3 retries would make 4000 tries.
    expect(tries).toBeLessThanOrEqual(calls * 1.1 + 5);
    expect(tries).toBeGreaterThan(calls);
    expect(policy.stats().retries).toBe(tries - calls);
    expect(budget.stats()).toMatchObject({ calls, retries: tries - calls });
  });

  it('does not retry when the wait would use up what is left of the deadline, and spends no token', async () => {
    const budget = new RetryBudget();
    const policy = new RetryPolicy({ minDelayMs: 100, maxDelayMs: 100, random: () => 1 - Number.EPSILON });
    const { fn, attempts } = failing(transient());
    await expect(policy.run(fn, { idempotent: true, budget, remainingMs: () => 50 })).rejects.toMatchObject({
      code: 'KEEL_TEST_TRANSIENT',
    });
    expect(attempts).toEqual([1]);
    expect(budget.stats().retries).toBe(0);
    expect(policy.stats().outOfTime).toBe(1);
    // An open circuit's retryAfterMs past the deadline also ends the call.
    const open = failing(new CircuitOpenError('svc', 5000));
    await expect(policy.run(open.fn, { idempotent: true, remainingMs: () => 1000 })).rejects.toBeInstanceOf(
      CircuitOpenError,
    );
    expect(open.attempts).toEqual([1]);
  });

  it('sleeps the jittered wait between tries', async () => {
    vi.useFakeTimers();
    const policy = new RetryPolicy({ minDelayMs: 1000, maxDelayMs: 1000, random: () => 0.25 });
    const { fn, attempts } = failing(transient());
    const result = policy.run(fn, { idempotent: true });
    await vi.advanceTimersByTimeAsync(249);
    expect(attempts).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts).toEqual([1, 2]);
    await expect(result).resolves.toBe('ok');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an abort during the wait rejects with its reason, clears the timer and starts no further try', async () => {
    vi.useFakeTimers();
    const policy = new RetryPolicy({ minDelayMs: 1000, maxDelayMs: 1000, random: () => 0.5 });
    const { fn, attempts } = failing(transient(), transient());
    const controller = new AbortController();
    const result = policy.run(fn, { idempotent: true, signal: controller.signal });
    result.catch(() => {});
    await vi.advanceTimersByTimeAsync(100);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(result).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(attempts).toEqual([1]);
  });

  it("a failure after the caller's abort rejects with the abort's reason, not retried", async () => {
    const policy = new RetryPolicy({ minDelayMs: 0, maxDelayMs: 0 });
    const controller = new AbortController();
    const reason = new Error('stop');
    const fn = vi.fn(async () => {
      controller.abort(reason);
      throw transient();
    });
    await expect(policy.run(fn, { idempotent: true, signal: controller.signal })).rejects.toBe(reason);
    expect(fn).toHaveBeenCalledTimes(1);
    const early = vi.fn();
    await expect(policy.run(early, { idempotent: true, signal: controller.signal })).rejects.toBe(reason);
    expect(early).not.toHaveBeenCalled();
  });

  it('refuses bad options and arguments, naming them', async () => {
    expect(() => new RetryPolicy({ retries: -1 })).toThrow(
      /RetryPolicy retries must be an integer ≥ 0; received -1/,
    );
    expect(() => new RetryPolicy({ minDelayMs: Number.POSITIVE_INFINITY })).toThrow(/RetryPolicy minDelayMs/);
    expect(() => new RetryPolicy({ minDelayMs: 100, maxDelayMs: 10 })).toThrow(
      /RetryPolicy maxDelayMs must be at least minDelayMs \(100\); received 10/,
    );
    expect(() => new RetryPolicy({ factor: 0.5 })).toThrow(/RetryPolicy factor must be a finite number ≥ 1/);
    expect(() => new RetryPolicy({ random: 0.5 as never })).toThrow(/RetryPolicy random must be a function/);
    expect(() => new RetryPolicy({ retry: 3 } as never)).toThrow(
      'RetryPolicy options: unknown option "retry"; known options: retries, minDelayMs, maxDelayMs, factor, retryIf, random',
    );
    const policy = new RetryPolicy();
    await expect(policy.run(async () => 1, {} as never)).rejects.toThrow(
      /RetryPolicy.run\(\) idempotent must be a boolean; received undefined/,
    );
    await expect(policy.run(async () => 1, { idempotent: true, budget: 1 } as never)).rejects.toThrow(
      /RetryPolicy.run\(\) budget must be a RetryBudget; received 1/,
    );
    await expect(
      policy.run(async () => 1, { idempotent: true, signal: 'x' } as never),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(policy.run(async () => 1, { idempotent: true, timeout: 5 } as never)).rejects.toThrow(
      'RetryPolicy.run() options: unknown option "timeout"',
    );
  });
});
