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
import { anything, sleep, until } from './contract/context.contract.ts';
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
        const { client, side } = await open(
          variant,
          (_p, ctx) => scenario.handler(++tries, ctx),
          scenario.spec,
        );
        const shared = new AbortController();
        const options = { signal: shared.signal, ...scenario.options };
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
