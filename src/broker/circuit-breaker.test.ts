import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it, vi } from 'vitest';
import { KeelError } from '../errors.ts';
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker.ts';
import { CircuitOpenError } from './resilience-errors.ts';

const transient = (): KeelError => new KeelError('KEEL_TEST_TRANSIENT', 'lost', { retryable: true });
const invalid = (): KeelError => new KeelError('KEEL_TEST_INVALID', 'bad params');

/** A breaker on a clock the test moves by hand. */
function make(options: CircuitBreakerOptions = {}): { breaker: CircuitBreaker; clock: { t: number } } {
  const clock = { t: 1_000_000 };
  const breaker = new CircuitBreaker({
    name: 'web→shapes.create',
    failureRate: 0.5,
    minimumCalls: 4,
    windowMs: 1000,
    openMs: 500,
    now: () => clock.t,
    ...options,
  });
  return { breaker, clock };
}

function fail(breaker: CircuitBreaker, times = 1, error: unknown = transient()): void {
  for (let i = 0; i < times; i++) breaker.failure(breaker.acquire(), error);
}

function succeed(breaker: CircuitBreaker, times = 1): void {
  for (let i = 0; i < times; i++) breaker.success(breaker.acquire());
}

function refusal(breaker: CircuitBreaker): CircuitOpenError {
  try {
    breaker.acquire();
  } catch (error) {
    return error as CircuitOpenError;
  }
  throw new Error('expected the circuit to refuse');
}

describe('CircuitBreaker: closed', () => {
  it('stays closed below minimumCalls, however many of them failed', () => {
    const { breaker } = make({ minimumCalls: 4 });
    fail(breaker, 3);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats()).toMatchObject({ state: 'closed', calls: 3, failures: 3 });
  });

  it('opens once the window holds minimumCalls and the failure share reaches failureRate', () => {
    const { breaker } = make({ minimumCalls: 4, failureRate: 0.5 });
    succeed(breaker, 2);
    fail(breaker, 1);
    expect(breaker.state).toBe('closed'); // 1 of 3, below the volume
    fail(breaker, 1); // 2 of 4 = 0.5
    expect(breaker.state).toBe('open');
    expect(breaker.stats()).toMatchObject({ state: 'open', opened: 1 });
  });

  it('compares the rate exactly (3 of 10 reaches 0.3)', () => {
    const { breaker } = make({ minimumCalls: 10, failureRate: 0.3 });
    succeed(breaker, 7);
    fail(breaker, 2);
    expect(breaker.state).toBe('closed');
    fail(breaker, 1);
    expect(breaker.state).toBe('open');
  });

  it('stays closed while failures stay under the rate', () => {
    const { breaker } = make({ minimumCalls: 4, failureRate: 0.5 });
    for (let i = 0; i < 50; i++) {
      succeed(breaker, 2);
      fail(breaker, 1);
    }
    expect(breaker.state).toBe('closed');
  });

  it('counts errors isFailure refuses (validation) as successes: the action answered', () => {
    const { breaker } = make();
    fail(breaker, 20, invalid());
    expect(breaker.stats()).toMatchObject({ state: 'closed', calls: 20, failures: 0 });
    const custom = make({ isFailure: (e) => (e as KeelError).code === 'KEEL_TEST_INVALID' }).breaker;
    fail(custom, 4, invalid());
    expect(custom.state).toBe('open');
  });

  it('forgets calls older than the window, bucket by bucket as it rolls', () => {
    const { breaker, clock } = make({ minimumCalls: 4, windowMs: 1000 });
    fail(breaker, 3); // in the bucket at t
    clock.t += 500;
    succeed(breaker, 3);
    expect(breaker.stats()).toMatchObject({ calls: 6, failures: 3 });
    clock.t += 550; // the first bucket has left the window, the second has not
    expect(breaker.stats()).toMatchObject({ calls: 3, failures: 0 });
    fail(breaker, 1); // 1 of 4: stays closed, where without rolling 4 of 7 would open it
    expect(breaker.state).toBe('closed');
    clock.t += 10_000; // long quiet: everything is forgotten
    expect(breaker.stats()).toMatchObject({ calls: 0, failures: 0 });
    fail(breaker, 3);
    expect(breaker.state).toBe('closed');
  });

  it('reuses a bucket slot a whole window later without adding the old counts', () => {
    const { breaker, clock } = make({ minimumCalls: 2, windowMs: 1000 });
    succeed(breaker, 5);
    clock.t += 1000; // the same slot of the ring, one window on
    fail(breaker, 1);
    expect(breaker.stats()).toMatchObject({ calls: 1, failures: 1 });
    fail(breaker, 1);
    expect(breaker.state).toBe('open');
  });
});

describe('CircuitBreaker: open and half-open', () => {
  it('fails fast while open with a retryable CircuitOpenError carrying retryAfterMs', () => {
    const { breaker, clock } = make({ openMs: 500 });
    fail(breaker, 4);
    clock.t += 200;
    const error = refusal(breaker);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error).toBeInstanceOf(KeelError);
    expect(error).toMatchObject({
      code: 'KEEL_BROKER_CIRCUIT_OPEN',
      retryable: true,
      retryAfterMs: 300,
      circuit: 'web→shapes.create',
    });
    expect(error.message).toBe(
      'Circuit "web→shapes.create" is open: the call was not sent; retry after 300 ms',
    );
    expect(breaker.stats().rejected).toBe(1);
  });

  it('after openMs lets exactly one trial through and refuses the rest fast', () => {
    const { breaker, clock } = make({ openMs: 500 });
    fail(breaker, 4);
    clock.t += 499;
    expect(breaker.state).toBe('open');
    clock.t += 1;
    expect(breaker.state).toBe('half-open');
    const trial = breaker.acquire();
    for (let i = 0; i < 5; i++) expect(refusal(breaker)).toMatchObject({ retryAfterMs: 500 });
    expect(breaker.stats()).toMatchObject({ state: 'half-open', rejected: 5 });
    breaker.success(trial);
    expect(breaker.state).toBe('closed');
  });

  it('closes on the trial success with a fresh window', () => {
    const { breaker, clock } = make({ minimumCalls: 4 });
    fail(breaker, 4);
    clock.t += 500;
    succeed(breaker, 1);
    expect(breaker.stats()).toMatchObject({ state: 'closed', calls: 0, failures: 0 });
    fail(breaker, 3); // the failures from before are gone
    expect(breaker.state).toBe('closed');
  });

  it('reopens on the trial failure for another openMs', () => {
    const { breaker, clock } = make({ openMs: 500 });
    fail(breaker, 4);
    clock.t += 500;
    fail(breaker, 1);
    expect(breaker.state).toBe('open');
    expect(refusal(breaker).retryAfterMs).toBe(500);
    expect(breaker.stats().opened).toBe(2);
    clock.t += 500;
    expect(breaker.state).toBe('half-open');
  });

  it('a trial ending with a non-failure (a validation error) closes the circuit', () => {
    const { breaker, clock } = make();
    fail(breaker, 4);
    clock.t += 500;
    fail(breaker, 1, invalid());
    expect(breaker.state).toBe('closed');
  });

  it('a released trial (its caller aborted) frees the slot for another trial', () => {
    const { breaker, clock } = make();
    fail(breaker, 4);
    clock.t += 500;
    const trial = breaker.acquire();
    expect(() => breaker.acquire()).toThrow(CircuitOpenError);
    breaker.release(trial);
    expect(breaker.state).toBe('half-open');
    const second = breaker.acquire();
    breaker.failure(second, transient());
    expect(breaker.state).toBe('open');
  });

  it('ignores late answers from calls that began in an earlier state', () => {
    const { breaker, clock } = make({ minimumCalls: 4 });
    const early = [breaker.acquire(), breaker.acquire(), breaker.acquire()];
    fail(breaker, 4); // opens
    clock.t += 500;
    const trial = breaker.acquire(); // half-open
    // Calls that started while closed end now: neither success closes nor failure reopens the circuit.
    breaker.success(early[0] as number);
    breaker.failure(early[1] as number, transient());
    breaker.release(early[2] as number);
    expect(breaker.state).toBe('half-open');
    expect(() => breaker.acquire()).toThrow(CircuitOpenError);
    breaker.success(trial);
    expect(breaker.state).toBe('closed');
    // A stale trial permit cannot move the closed circuit either.
    breaker.failure(trial, transient());
    expect(breaker.stats()).toMatchObject({ calls: 0, failures: 0 });
  });

  it('tells onStateChange about each move, and reports a throwing listener without breaking the call', () => {
    const moves: [CircuitState, CircuitState][] = [];
    const { breaker, clock } = make({ onStateChange: (to, from) => moves.push([to, from]) });
    fail(breaker, 4);
    clock.t += 500;
    succeed(breaker, 1);
    expect(moves).toEqual([
      ['open', 'closed'],
      ['half-open', 'open'],
      ['closed', 'half-open'],
    ]);

    const reports: unknown[] = [];
    const listener = (message: unknown): void => {
      reports.push(message);
    };
    subscribe('keel:broker.unhandled', listener);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const boom = new Error('listener broke');
      const noisy = make({
        onStateChange: () => {
          throw boom;
        },
      }).breaker;
      expect(() => fail(noisy, 4)).not.toThrow();
      expect(noisy.state).toBe('open');
      expect(reports).toEqual([
        { module: 'broker', context: 'CircuitBreaker "web→shapes.create" onStateChange', error: boom },
      ]);
    } finally {
      stderr.mockRestore();
      unsubscribe('keel:broker.unhandled', listener);
    }
  });
});

describe('CircuitBreaker.run', () => {
  it('records what the function does and refuses it when open, never calling it', async () => {
    const { breaker } = make({ minimumCalls: 2 });
    await expect(breaker.run(async () => 'ok')).resolves.toBe('ok');
    await expect(
      breaker.run(async () => {
        throw transient();
      }),
    ).rejects.toMatchObject({ code: 'KEEL_TEST_TRANSIENT' });
    expect(breaker.state).toBe('open');
    const fn = vi.fn(async () => 'never');
    await expect(breaker.run(fn)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fn).not.toHaveBeenCalled();
  });

  it("gives the permit back when the failure came with the caller's abort", async () => {
    const { breaker, clock } = make();
    fail(breaker, 4);
    clock.t += 500;
    const controller = new AbortController();
    const aborted = breaker.run(
      async () => {
        controller.abort();
        throw transient();
      },
      { signal: controller.signal },
    );
    await expect(aborted).rejects.toMatchObject({ code: 'KEEL_TEST_TRANSIENT' });
    expect(breaker.state).toBe('half-open');
    await expect(breaker.run(() => 'trial')).resolves.toBe('trial');
    expect(breaker.state).toBe('closed');
  });

  it('refuses bad run() arguments, naming them', async () => {
    const { breaker } = make();
    await expect(breaker.run(5 as never)).rejects.toThrow(
      /CircuitBreaker.run\(\) fn must be a function; received 5/,
    );
    await expect(breaker.run(() => 1, { signal: 1 } as never)).rejects.toThrow(
      /CircuitBreaker.run\(\) signal must be an AbortSignal; received 1/,
    );
    await expect(breaker.run(() => 1, { timeoutMs: 1 } as never)).rejects.toThrow(
      'CircuitBreaker.run() options: unknown option "timeoutMs"; known options: signal',
    );
    // A refused call takes no permit: the circuit still counts nothing.
    expect(breaker.stats()).toMatchObject({ calls: 0, rejected: 0 });
  });

  it('uses performance.now when no clock is given', () => {
    const breaker = new CircuitBreaker({ minimumCalls: 1, openMs: 60_000 });
    fail(breaker, 1);
    const error = refusal(breaker);
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
  });
});

describe('CircuitBreaker options', () => {
  it('refuses bad options, naming them', () => {
    expect(() => new CircuitBreaker({ failureRate: 0 })).toThrow(
      'CircuitBreaker failureRate must be a number above 0 and at most 1; received 0',
    );
    expect(() => new CircuitBreaker({ failureRate: 1.1 })).toThrow(/failureRate/);
    expect(() => new CircuitBreaker({ failureRate: Number.NaN })).toThrow(/failureRate/);
    expect(() => new CircuitBreaker({ minimumCalls: 0 })).toThrow(
      /CircuitBreaker minimumCalls must be an integer ≥ 1/,
    );
    expect(() => new CircuitBreaker({ windowMs: 0 })).toThrow(
      /CircuitBreaker windowMs must be a number of milliseconds ≥ 1/,
    );
    expect(() => new CircuitBreaker({ windowMs: Number.POSITIVE_INFINITY })).toThrow(/windowMs/);
    expect(() => new CircuitBreaker({ openMs: -1 })).toThrow(/CircuitBreaker openMs/);
    expect(() => new CircuitBreaker({ isFailure: true as never })).toThrow(
      /CircuitBreaker isFailure must be a function/,
    );
    expect(() => new CircuitBreaker({ now: 5 as never })).toThrow(/CircuitBreaker now must be a function/);
    expect(() => new CircuitBreaker({ name: '' })).toThrow(/CircuitBreaker name must be a non-empty string/);
    expect(() => new CircuitBreaker({ threshold: 0.5 } as never)).toThrow(
      'CircuitBreaker options: unknown option "threshold"; known options: name, failureRate, minimumCalls, windowMs, openMs, isFailure, onStateChange, now',
    );
    expect(() => new CircuitBreaker([] as never)).toThrow(/CircuitBreaker options must be an options object/);
  });

  it('has documented defaults', () => {
    const breaker = new CircuitBreaker();
    expect(breaker).toMatchObject({
      name: 'circuit',
      failureRate: 0.5,
      minimumCalls: 20,
      windowMs: 10_000,
      openMs: 5000,
    });
    expect(breaker.state).toBe('closed');
  });
});
