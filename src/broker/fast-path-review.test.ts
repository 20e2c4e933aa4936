/**
 * The broker's fast paths (a local call with nothing around it, a wire call with nothing around it, the
 * plain serving pipeline) against the general path: the same scenario gives the caller the same outcome
 * and the metrics the same counts, whichever path served it.
 */
import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { KeelError } from '../errors.ts';
import type { StandardSchemaV1 } from '../standard-schema.ts';
import type { Broker } from './broker.ts';
import { BrokerStoppedError, DeadlineExceededError } from './broker-errors.ts';
import { anything, failure, sleep, until } from './contract/context.contract.ts';
import { defineContract } from './contract.ts';
import { createBroker } from './create-broker.ts';
import { defineService } from './service.ts';
import type { ServiceContext } from './service-context.ts';

/**
 * fast: a local call with nothing around it; general: the same with a serve middleware that only calls
 * next(); remote: over the memory transport with nothing around it; remote-general: the same with a
 * call middleware that only calls next().
 */
const variants = ['fast', 'general', 'remote', 'remote-general'] as const;
type Variant = (typeof variants)[number];

const brokers: Broker<any>[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.stop({ timeoutMs: 500 });
});

const schemaOf = (
  validate: (value: unknown) => ReturnType<StandardSchemaV1['~standard']['validate']>,
): StandardSchemaV1 => ({ '~standard': { version: 1, vendor: 'review', validate } });

/** Refuses `bad`, at once or through a promise. */
const refusing = (bad: unknown, async = false) =>
  schemaOf((value) => {
    const outcome = value === bad ? { issues: [{ message: `refused ${String(bad)}` }] } : { value };
    return async ? sleep(1).then(() => outcome) : outcome;
  });
/** Throws (or rejects) on every value. */
const throwing = (async = false) =>
  schemaOf(() => {
    if (async) return Promise.reject(new TypeError('schema rejected'));
    throw new TypeError('schema threw');
  });

type Handler = (params: any, ctx: ServiceContext) => unknown;
interface Spec {
  readonly params?: StandardSchemaV1;
  readonly result?: StandardSchemaV1;
  readonly idempotent?: boolean;
}

async function open(
  variant: Variant,
  handler: Handler,
  spec: Spec = {},
  options: Record<string, unknown> = {},
) {
  const c = defineContract({
    name: `review-${randomUUID().slice(0, 8)}`,
    version: 1,
    actions: {
      run: { params: spec.params ?? anything, result: spec.result ?? anything, idempotent: spec.idempotent },
      other: { params: anything, result: anything, idempotent: true },
    },
  });
  let other: Handler = (p) => p;
  const service = defineService(c, {
    actions: {
      run: (p: unknown, ctx: ServiceContext) => handler(p, ctx),
      other: (p: unknown, ctx: ServiceContext) => other(p, ctx),
    },
  } as never);
  const broker = await createBroker({
    transport: `memory://review-${randomUUID()}`,
    services: [service],
    preferLocal: !variant.startsWith('remote'),
    ...options,
  });
  if (variant === 'general') broker.use({ serve: (_ctx, _params, next) => next() });
  if (variant === 'remote-general') broker.use({ call: (_request, next) => next() });
  brokers.push(broker);
  const side = (s: 'call' | 'serve', action = 'run') =>
    broker.metrics().actions.find((a) => a.side === s && a.action === `${c.name}.${action}`);
  return {
    broker,
    c,
    client: broker.client(c) as any,
    side,
    setOther: (h: Handler) => {
      other = h;
    },
  };
}

/** What a user can tell of an error: its class and public fields (node ids aside, which differ per broker). */
function shape(error: unknown) {
  if (!(error instanceof Error)) return { thrown: error };
  const e = error as Error & Record<string, unknown>;
  return {
    class: e.constructor.name,
    name: e.name,
    message: e.message.replaceAll(/vm-[\w-]+/g, '<node>').replaceAll(/review-[0-9a-f]{8}/g, '<contract>'),
    code: e.code,
    retryable: e.retryable,
    remoteCode: e.remoteCode,
    remoteName: e.remoteName,
    target: e.target,
    issues: e.issues,
    timeoutMs: e.timeoutMs,
  };
}

const counts = (m: { calls: number; errors: number; errorsByCode: object; inFlight: number } | undefined) =>
  m === undefined
    ? undefined
    : { calls: m.calls, errors: m.errors, byCode: m.errorsByCode, inFlight: m.inFlight };

const flaky = () => new KeelError('KEEL_TEST_FLAKY', 'flaky', { retryable: true });

interface Scenario {
  readonly name: string;
  readonly spec?: Spec;
  /** The handler; `tries` counts its runs. */
  readonly handler: (tries: number, ctx: ServiceContext) => unknown;
  readonly params?: unknown;
  readonly options?: Record<string, unknown>;
}

const scenarios: Scenario[] = [
  { name: 'a synchronous handler', handler: () => 'sync' },
  { name: 'an asynchronous handler', handler: async () => 'async' },
  {
    name: 'a thenable that resolves',
    handler: () => ({
      // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable (not a Promise) is the point.
      then: (ok: (v: unknown) => void) => ok('thenable'),
    }),
  },
  {
    name: 'a thenable that rejects',
    handler: () => ({
      // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable (not a Promise) is the point.
      then: (_ok: unknown, fail: (e: unknown) => void) => fail(new RangeError('thenable no')),
    }),
  },
  {
    name: 'a thenable whose then throws',
    handler: () => ({
      // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable (not a Promise) is the point.
      then() {
        throw new RangeError('then threw');
      },
    }),
  },
  {
    name: 'a value whose then is a throwing getter',
    handler: () => ({
      // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable (not a Promise) is the point.
      get then() {
        throw new RangeError('then getter threw');
      },
    }),
  },
  {
    name: 'a handler that throws at once',
    handler: () => {
      throw new TypeError('sync boom');
    },
  },
  { name: 'a handler that throws undefined', handler: () => Promise.reject(undefined) },
  { name: 'a handler that throws a string', handler: () => Promise.reject('plain string') },
  {
    name: 'a final KeelError',
    handler: async () => {
      throw new KeelError('KEEL_TEST_FINAL', 'final', { retryable: false });
    },
  },
  { name: 'a retryable failure of an unsafe call', handler: () => Promise.reject(flaky()) },
  {
    name: 'a retryable failure with retries: 0',
    spec: { idempotent: true },
    options: { retries: 0 },
    handler: () => Promise.reject(flaky()),
  },
  {
    name: 'a retryable failure saved by a retry',
    spec: { idempotent: true },
    handler: (tries) => (tries < 2 ? Promise.reject(flaky()) : 'second'),
  },
  {
    name: 'a key makes an unsafe call retried',
    options: { idempotencyKey: 'key-1', retries: 1 },
    handler: () => {
      throw flaky();
    },
  },
  {
    name: 'params refused at once',
    spec: { params: refusing('bad') },
    params: 'bad',
    handler: () => 'never',
  },
  {
    name: 'params refused later',
    spec: { params: refusing('bad', true) },
    params: 'bad',
    handler: () => 'never',
  },
  { name: 'a params schema that throws', spec: { params: throwing() }, handler: () => 'never' },
  { name: 'a params schema that rejects', spec: { params: throwing(true) }, handler: () => 'never' },
  { name: 'a result refused at once', spec: { result: refusing('bad') }, handler: () => 'bad' },
  { name: 'a result refused later', spec: { result: refusing('bad', true) }, handler: async () => 'bad' },
  { name: 'a result schema that throws', spec: { result: throwing() }, handler: () => 'x' },
  { name: 'a result schema that rejects', spec: { result: throwing(true) }, handler: () => 'x' },
  {
    name: 'a caller signal aborted before the call',
    options: { signal: AbortSignal.abort(new Error('left before')) },
    handler: () => 'never',
  },
  { name: 'a huge timeoutMs', options: { timeoutMs: 1e12 }, handler: () => 'patient' },
  {
    name: 'attemptTimeoutMs over timeoutMs',
    spec: { idempotent: true },
    options: { timeoutMs: 60, attemptTimeoutMs: 5000 },
    handler: () => sleep(150).then(() => 'late'),
  },
  {
    name: 'a first try abandoned at attemptTimeoutMs, the second in time',
    spec: { idempotent: true },
    options: { timeoutMs: 2000, attemptTimeoutMs: 60 },
    handler: (tries) => (tries === 1 ? sleep(150).then(() => 'late') : 'in time'),
  },
  {
    name: 'every try abandoned at attemptTimeoutMs of an unsafe call',
    options: { timeoutMs: 2000, attemptTimeoutMs: 40 },
    handler: () => sleep(100).then(() => 'late'),
  },
  {
    name: 'a handler that resolves after the deadline',
    options: { timeoutMs: 50 },
    handler: () => sleep(120).then(() => 'late'),
  },
  {
    name: 'a handler that fails after the deadline',
    options: { timeoutMs: 50 },
    handler: () => sleep(120).then(() => Promise.reject(new Error('late failure'))),
  },
];

describe('every path gives the same outcome and the same metrics', () => {
  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const seen: Record<string, unknown> = {};
      for (const variant of variants) {
        let tries = 0;
        const { broker, client, side } = await open(
          variant,
          (_p, ctx) => scenario.handler(++tries, ctx),
          scenario.spec,
        );
        const shared = new AbortController();
        const servedBy: string[] = [];
        const onServed = (nodeId: string) => servedBy.push(nodeId === broker.nodeId ? 'this' : nodeId);
        const options = { signal: shared.signal, onServed, ...scenario.options };
        let outcome: unknown;
        try {
          outcome = { value: await client.run(scenario.params ?? null, options) };
        } catch (error) {
          outcome = { error: shape(error) };
        }
        await until('the handlers ended', () => side('serve')?.inFlight === 0);
        seen[variant] = {
          outcome,
          tries,
          servedBy,
          call: counts(side('call')),
          serve: counts(side('serve')),
          listeners: getEventListeners(shared.signal, 'abort').length,
        };
      }
      expect(seen.fast).toMatchObject({ listeners: 0, call: { inFlight: 0 } });
      expect({ variant: 'fast', ...(seen.fast as object) }).toEqual({
        variant: 'fast',
        ...(seen.general as object),
      });
      expect({ variant: 'remote', ...(seen.remote as object) }).toEqual({
        variant: 'remote',
        ...(seen['remote-general'] as object),
      });
      expect({ variant: 'remote', ...(seen.remote as object) }).toEqual({
        variant: 'remote',
        ...(seen.general as object),
      });
    });
  }
});

describe('call middleware around a local call', () => {
  it('the call is counted once, with the outcome the caller sees, whatever the middleware do', async () => {
    const seen: Record<string, unknown> = {};
    for (const variant of ['fast', 'general'] as const) {
      const { broker, client, side } = await open(variant, (p) => p);
      broker.use({
        call: async (request, next) => {
          if (request.params === 'deny') throw new KeelError('KEEL_TEST_DENIED', 'denied');
          if (request.params === 'cached') return 'from cache';
          if (request.params === 'twice') {
            await next();
            return next();
          }
          const value = await next();
          if (request.params === 'after') throw new KeelError('KEEL_TEST_AFTER', 'refused after');
          return value;
        },
      });
      const outcomes: unknown[] = [];
      for (const params of ['deny', 'cached', 'twice', 'after', 'ok']) {
        outcomes.push(
          await client.run(params).then(
            (value: unknown) => ({ value }),
            (error: unknown) => ({ error: shape(error) }),
          ),
        );
      }
      seen[variant] = { outcomes, call: counts(side('call')), serve: counts(side('serve')) };
    }
    expect(seen.general).toMatchObject({
      call: { calls: 5, errors: 2, byCode: { KEEL_TEST_DENIED: 1, KEEL_TEST_AFTER: 1 }, inFlight: 0 },
    });
    expect(seen.fast).toEqual(seen.general);
  });

  it('stop waits for a call middleware still working after the handler answered', async () => {
    for (const variant of ['fast', 'general'] as const) {
      const { broker, client } = await open(variant, (p) => p);
      let finished = false;
      broker.use({
        call: async (_request, next) => {
          const value = await next();
          await sleep(80);
          finished = true;
          return value;
        },
      });
      const call = client.run(1);
      await sleep(5);
      await broker.stop({ timeoutMs: 2000 });
      expect({ variant, finished }).toEqual({ variant, finished: true });
      expect(await call).toBe(1);
    }
  });
});

const locals = ['fast', 'general'] as const;
const never = () => new Promise<never>(() => {});

describe.each(locals)('cancellation on the %s path', (variant) => {
  it("ctx.signal aborts with the caller's reason, also when first read after the call ended", async () => {
    let ctxSeen: ServiceContext | undefined;
    const { client, side } = await open(variant, async (_p, ctx) => {
      ctxSeen = ctx;
      await sleep(80);
      return 'late';
    });
    const control = new AbortController();
    const reason = new Error('caller left');
    const call = client.run(null, { signal: control.signal, timeoutMs: 5000 });
    await until('the handler started', () => ctxSeen !== undefined);
    control.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(getEventListeners(control.signal, 'abort')).toHaveLength(0);
    await until('the handler ended', () => side('serve')?.inFlight === 0);
    expect(ctxSeen?.signal.aborted).toBe(true);
    expect(ctxSeen?.signal.reason).toBe(reason);
    expect(counts(side('call'))).toEqual({ calls: 1, errors: 1, byCode: { ERROR: 1 }, inFlight: 0 });
  });

  it("a parent call's abort reaches its nested call, whose signal aborts with the same reason", async () => {
    let nested: AbortSignal | undefined;
    let listenersLeft = -1;
    const { client, setOther } = await open(variant, async (_p, ctx) => {
      // Calls that end leave no listener on the parent's signal.
      for (let i = 0; i < 20; i++) await ctx.call(`${ctx.action.split('.')[0]}.other`, i);
      listenersLeft = getEventListeners(ctx.signal, 'abort').length;
      return ctx.call(`${ctx.action.split('.')[0]}.other`, 'hang', { timeoutMs: 60_000 });
    });
    setOther((p, ctx) => {
      if (p !== 'hang') return p;
      nested = ctx.signal;
      return never();
    });
    const control = new AbortController();
    const reason = new Error('gone');
    const call = client.run(null, { signal: control.signal, timeoutMs: 10_000 });
    await until('the nested call started', () => nested !== undefined);
    expect(listenersLeft).toBe(0);
    control.abort(reason);
    await expect(call).rejects.toBe(reason);
    await until('the nested signal aborted', () => nested?.aborted === true);
    expect(nested?.reason).toBe(reason);
  });

  it('a nested call gets what is left of the budget, and ctx.deadline is in Date.now() ms', async () => {
    const deadlines: number[] = [];
    const before = Date.now();
    const { client, setOther } = await open(variant, async (_p, ctx) => {
      deadlines.push(ctx.deadline);
      await sleep(100);
      return ctx.call(`${ctx.action.split('.')[0]}.other`, 'x', { timeoutMs: 60_000 });
    });
    setOther((_p, ctx) => {
      deadlines.push(ctx.deadline);
      return ctx.deadline - Date.now();
    });
    const left = (await client.run(null, { timeoutMs: 1000 })) as number;
    const [parent, child] = deadlines as [number, number];
    expect(parent).toBeGreaterThanOrEqual(before + 1000 - 2);
    expect(parent).toBeLessThanOrEqual(Date.now() + 1000);
    // The fast path works ctx.deadline out from the performance clock, so it may be a fraction of a
    // millisecond off the general path's whole milliseconds.
    expect(child).toBeLessThanOrEqual(parent + 2);
    expect(child).toBeGreaterThanOrEqual(parent - 5);
    expect(left).toBeLessThanOrEqual(905);
  });

  it('a nested call made with no budget left is refused at once with DeadlineExceededError (timeoutMs 0)', async () => {
    let nestedError: unknown;
    const { client } = await open(variant, async (_p, ctx) => {
      await sleep(80);
      nestedError = await ctx.call(`${ctx.action.split('.')[0]}.other`, 'x').catch((e: unknown) => e);
      return 'done';
    });
    await failure(client.run(null, { timeoutMs: 30 }));
    await until('the handler made its nested call', () => nestedError !== undefined);
    expect(nestedError).toBeInstanceOf(DeadlineExceededError);
    expect(nestedError).toMatchObject({ timeoutMs: 0 });
  });

  it('stop past its grace answers a pending call with BrokerStoppedError, the reason of its signal too', async () => {
    let ctxSeen: ServiceContext | undefined;
    const { broker, client } = await open(variant, (_p, ctx) => {
      ctxSeen = ctx;
      return never();
    });
    const call = client.run(null, { timeoutMs: 60_000 });
    await until('the handler started', () => ctxSeen !== undefined);
    const stopping = broker.stop({ timeoutMs: 30 });
    const error = await failure(call);
    expect(error).toBeInstanceOf(BrokerStoppedError);
    expect(ctxSeen?.signal.reason).toBe(error);
    await stopping;
  });

  it('stop waits for a handler abandoned at its deadline, within its grace', async () => {
    let finished = false;
    const { broker, client, side } = await open(variant, async () => {
      await sleep(150);
      finished = true;
      return 'late';
    });
    expect(await failure(client.run(null, { timeoutMs: 20 }))).toBeInstanceOf(DeadlineExceededError);
    expect(finished).toBe(false);
    await broker.stop({ timeoutMs: 3000 });
    expect(finished).toBe(true);
    expect(counts(side('serve'))).toEqual({ calls: 1, errors: 0, byCode: {}, inFlight: 0 });
  });

  it('stop while retries are waiting ends the call with BrokerStoppedError and tries no more', async () => {
    let tries = 0;
    const { broker, client } = await open(
      variant,
      () => {
        tries++;
        throw flaky();
      },
      { idempotent: true },
      { retryBudget: false },
    );
    const call = client.run(null, { retries: 50, timeoutMs: 60_000 });
    await until('a first try failed', () => tries >= 1);
    await broker.stop({ timeoutMs: 20 });
    expect(await failure(call)).toBeInstanceOf(BrokerStoppedError);
    const after = tries;
    await sleep(150);
    expect(tries).toBe(after);
  });

  it('an abort while an asynchronous params schema runs rejects the caller, and stop leaves nothing running', async () => {
    let ran = 0;
    const { broker, client, side } = await open(
      variant,
      () => {
        ran++;
        return 'ran';
      },
      { params: schemaOf((value) => sleep(60).then(() => ({ value }))) },
    );
    const control = new AbortController();
    const reason = new Error('left during validation');
    const call = client.run(null, { signal: control.signal });
    await sleep(10);
    control.abort(reason);
    await expect(call).rejects.toBe(reason);
    await until('the serving side ended', () => side('serve')?.inFlight === 0);
    await broker.stop({ timeoutMs: 1000 });
    expect(counts(side('call'))).toEqual({ calls: 1, errors: 1, byCode: { ERROR: 1 }, inFlight: 0 });
    expect(ran).toBeLessThanOrEqual(1);
  });
});

describe.each(locals)('deadlines on the %s path', (variant) => {
  it('many concurrent calls with mixed budgets each end at their own deadline, never before it', async () => {
    const { client } = await open(variant, async (p: number) => {
      if (p === 0) return 'quick';
      return never();
    });
    const budgets = [200, 40, 120, 20, 160, 60, 200, 30, 100, 80, 140, 20, 180, 50];
    const started = performance.now();
    const ends: { budget: number; at: number; error: unknown }[] = [];
    const calls = budgets.map((budget) =>
      client.run(budget, { timeoutMs: budget }).then(
        () => ends.push({ budget, at: -1, error: undefined }),
        (error: unknown) => ends.push({ budget, at: performance.now() - started, error }),
      ),
    );
    // Quick calls in between come and go without disturbing the list.
    for (let i = 0; i < 10; i++) expect(await client.run(0, { timeoutMs: 10 + i })).toBe('quick');
    await Promise.all(calls);
    for (const end of ends) {
      expect(end.error).toBeInstanceOf(DeadlineExceededError);
      expect(end.error).toMatchObject({ timeoutMs: end.budget });
      expect(end.at).toBeGreaterThanOrEqual(end.budget - 1);
    }
    // Shorter budgets end first (budgets 20 ms apart or more).
    for (let i = 1; i < ends.length; i++) {
      expect((ends[i] as { budget: number }).budget).toBeGreaterThanOrEqual(
        (ends[i - 1] as { budget: number }).budget - 19,
      );
    }
  });

  it('calls whose deadlines all passed while the event loop was busy end in the order of their deadlines', async () => {
    const { client } = await open(variant, () => never());
    const order: number[] = [];
    const calls = [160, 100, 40, 130, 70].map((budget) =>
      client.run(null, { timeoutMs: budget }).catch(() => order.push(budget)),
    );
    await sleep(0);
    const busyUntil = Date.now() + 250;
    while (Date.now() < busyUntil) {}
    await Promise.all(calls);
    expect(order).toEqual([40, 70, 100, 130, 160]);
  });

  it('a call with timeoutMs 1e12 answers, and a short call beside it still ends at its own deadline', async () => {
    let deadline = 0;
    const { client } = await open(variant, (p, ctx) => {
      deadline = ctx.deadline;
      return p === 'hang' ? never() : 'ok';
    });
    const control = new AbortController();
    const huge = client.run('hang', { timeoutMs: 1e12, signal: control.signal });
    await until('the handler started', () => deadline !== 0);
    expect(deadline).toBeGreaterThan(Date.now() + 1e12 - 1000);
    const started = Date.now();
    expect(await failure(client.run('hang', { timeoutMs: 30 }))).toMatchObject({ timeoutMs: 30 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await client.run('ok', { timeoutMs: 1e12 })).toBe('ok');
    control.abort(new Error('enough'));
    await expect(huge).rejects.toThrow('enough');
  });

  it('attemptTimeoutMs over timeoutMs: the call ends at timeoutMs with the call budget in its error', async () => {
    let tries = 0;
    const { client } = await open(
      variant,
      () => {
        tries++;
        return never();
      },
      { idempotent: true },
    );
    const started = Date.now();
    const error = await failure(client.run(null, { timeoutMs: 50, attemptTimeoutMs: 10_000 }));
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error).toMatchObject({ timeoutMs: 50 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(tries).toBe(1);
  });

  it('tries abandoned at attemptTimeoutMs are retried within the budget; the last error names the try budget', async () => {
    let tries = 0;
    const { client, side } = await open(
      variant,
      (_p, ctx) => {
        tries++;
        return new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
        );
      },
      { idempotent: true },
      { retryBudget: false },
    );
    const error = await failure(client.run(null, { timeoutMs: 5000, attemptTimeoutMs: 30, retries: 2 }));
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error).toMatchObject({ timeoutMs: 30 });
    expect(tries).toBe(3);
    expect(counts(side('call'))).toEqual({
      calls: 1,
      errors: 1,
      byCode: { KEEL_BROKER_DEADLINE: 1 },
      inFlight: 0,
    });
  });

  it('no timer holds the process while no call is pending', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const { client } = await open(variant, (p) => p);
    await client.run(1, { timeoutMs: 60_000 });
    await sleep(5);
    const idle = timers();
    await client.run(2, { timeoutMs: 30 });
    await sleep(60);
    expect(timers()).toBeLessThanOrEqual(idle);
  });
});

describe.each(locals)('the circuit breaker on the %s path', (variant) => {
  const breaker = (opened: string[]) => ({
    circuitBreaker: {
      minimumCalls: 2,
      failureRate: 0.5,
      openMs: 60_000,
      onStateChange: (state: string) => opened.push(state),
    },
  });

  it('a call saved by a retry is a success; failed calls open the circuit, which then refuses', async () => {
    const opened: string[] = [];
    let tries = 0;
    const { client, side } = await open(
      variant,
      (p) => {
        tries++;
        if (p === 'down' || tries % 2 === 1) throw flaky();
        return 'saved';
      },
      { idempotent: true },
      { ...breaker(opened), retryBudget: false },
    );
    for (let i = 0; i < 3; i++) expect(await client.run('flaky', { retries: 1 })).toBe('saved');
    expect(opened).toEqual([]);
    for (let i = 0; i < 3; i++) await failure(client.run('down', { retries: 0 }));
    expect(opened).toEqual(['open']);
    expect((await failure(client.run('flaky'))).code).toBe('KEEL_BROKER_CIRCUIT_OPEN');
    expect(counts(side('call'))).toMatchObject({ calls: 7, errors: 4, inFlight: 0 });
  });

  it('calls the caller gave up on (before or during the call) give no verdict', async () => {
    const opened: string[] = [];
    const { client } = await open(variant, () => never(), {}, breaker(opened));
    for (let i = 0; i < 4; i++) {
      await failure(client.run(null, { signal: AbortSignal.abort(new Error('before')) }));
      await failure(client.run(null, { signal: AbortSignal.timeout(5) }));
    }
    expect(opened).toEqual([]);
    // A deadline is a verdict.
    for (let i = 0; i < 2; i++) await failure(client.run(null, { timeoutMs: 5 }));
    expect(opened).toEqual(['open']);
  });

  it('a retried call the caller abandons while its retries wait gives no verdict', async () => {
    const opened: string[] = [];
    let tries = 0;
    const { client } = await open(
      variant,
      () => {
        tries++;
        throw flaky();
      },
      { idempotent: true },
      { ...breaker(opened), retryBudget: false },
    );
    for (let i = 0; i < 4; i++) {
      const control = new AbortController();
      const call = client.run(null, { retries: 50, signal: control.signal });
      const before = tries;
      await until('a try failed', () => tries > before);
      control.abort(new Error('enough'));
      await expect(call).rejects.toThrow('enough');
    }
    expect(opened).toEqual([]);
  });
});

describe.each(locals)('meta and trace context on the %s path', (variant) => {
  it("ctx.meta is frozen, merges the parent's, and keeps the trace context out while continuing its trace id", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
    const seen: Record<string, unknown>[] = [];
    const { client, setOther } = await open(variant, (_p, ctx) => {
      seen.push({ frozen: Object.isFrozen(ctx.meta), meta: { ...ctx.meta }, traceId: ctx.traceId });
      return ctx.call(`${ctx.action.split('.')[0]}.other`, null, { meta: { step: 'two' } });
    });
    setOther((_p, ctx) => {
      seen.push({ frozen: Object.isFrozen(ctx.meta), meta: { ...ctx.meta }, traceId: ctx.traceId });
      return 'ok';
    });
    await client.run(null, { meta: { user: 'u1', step: 'one', traceparent, tracestate: 'k=v' } });
    expect(seen).toEqual([
      { frozen: true, meta: { user: 'u1', step: 'one' }, traceId },
      { frozen: true, meta: { user: 'u1', step: 'two' }, traceId },
    ]);
  });
});

describe('the retry budget', () => {
  it('a call refused because its caller had already given up deposits nothing into the budget', async () => {
    const seen: Record<string, unknown> = {};
    for (const variant of variants) {
      let tries = 0;
      const { client } = await open(
        variant,
        (p) => {
          tries++;
          // Every call fails its first try and would succeed on its second.
          if (tries % 2 === 1) throw flaky();
          return p;
        },
        { idempotent: true },
        // Half a token per call, one token at most; a retry needs more than half of it.
        { retryBudget: { maxTokens: 1, tokenRatio: 0.5 } },
      );
      const outcomes: unknown[] = [];
      const run = (params: string, signal?: AbortSignal) =>
        client.run(params, { retries: 1, signal }).then(
          (value: unknown) => outcomes.push(value),
          (error: unknown) => outcomes.push((error as KeelError).code ?? (error as Error).message),
        );
      await run('first');
      await run('gone', AbortSignal.abort(new Error('gone before')));
      await run('second');
      seen[variant] = outcomes;
    }
    expect(seen.general).toEqual(['first', 'gone before', 'KEEL_TEST_FLAKY']);
    expect(seen).toEqual({
      fast: seen.general,
      general: seen.general,
      remote: seen.general,
      'remote-general': seen.general,
    });
  });
});

describe('call middleware and the budget', () => {
  it.each(locals)(
    'on the %s path, the time a call middleware takes before next() is part of the budget',
    async (variant) => {
      const { broker, client } = await open(variant, () => sleep(60).then(() => 'in time?'));
      broker.use({
        call: async (_request, next) => {
          await sleep(50);
          return next();
        },
      });
      const error = await failure(client.run(null, { timeoutMs: 80 }));
      expect(error).toBeInstanceOf(DeadlineExceededError);
      expect(error).toMatchObject({ timeoutMs: 80 });
    },
  );
});
