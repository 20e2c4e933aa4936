/** A call served by the same broker: its fast path keeps every promise the general path makes. */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { KeelError } from '../errors.ts';
import type { StandardSchemaV1 } from '../standard-schema.ts';
import type { Broker } from './broker.ts';
import { BrokerStoppedError, DeadlineExceededError, RemoteError, ValidationError } from './broker-errors.ts';
import { aNumber, anything, failure, sleep, until } from './contract/context.contract.ts';
import { defineContract } from './contract.ts';
import { createBroker } from './create-broker.ts';
import { BulkheadFullError, CircuitOpenError } from './resilience-errors.ts';
import { defineService } from './service.ts';
import type { ServiceContext } from './service-context.ts';

const brokers: Broker<any>[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.stop({ timeoutMs: 500 });
});

/** A schema that answers through a promise, as an asynchronous validator does. */
const later = <T>(check: (v: unknown) => boolean): StandardSchemaV1<T> => ({
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: async (value) => {
      await sleep(1);
      return check(value) ? { value: value as T } : { issues: [{ message: 'refused later' }] };
    },
  },
});

function contract() {
  return defineContract({
    name: `local-${randomUUID().slice(0, 8)}`,
    version: 1,
    actions: {
      run: { params: anything, result: anything },
      idem: { params: anything, result: anything, idempotent: true },
      checked: {
        params: later<number>((v) => typeof v === 'number'),
        result: later<number>((v) => v !== 13),
      },
      num: { params: anything, result: aNumber },
    },
  });
}

type Handlers = Partial<Record<'run' | 'idem' | 'checked' | 'num', (p: any, ctx: ServiceContext) => unknown>>;

async function open(handlers: Handlers, options: Record<string, unknown> = {}) {
  const c = contract();
  const service = defineService(c, {
    actions: {
      run: handlers.run ?? ((p: unknown) => p),
      idem: handlers.idem ?? ((p: unknown) => p),
      checked: handlers.checked ?? ((p: number) => p),
      num: handlers.num ?? ((p: unknown) => p),
    },
  } as never);
  const broker = await createBroker({
    transport: `memory://local-${randomUUID()}`,
    services: [service],
    ...options,
  });
  brokers.push(broker);
  return { broker, client: broker.client(c), c };
}

const callSide = (broker: Broker<any>, action: string) =>
  broker.metrics().actions.find((a) => a.side === 'call' && a.action.endsWith(`.${action}`));
const serveSide = (broker: Broker<any>, action: string) =>
  broker.metrics().actions.find((a) => a.side === 'serve' && a.action.endsWith(`.${action}`));

describe('a call served in the same broker', () => {
  it('runs synchronous and asynchronous handlers and schemas alike, and refuses what the schemas refuse', async () => {
    const { client } = await open({ run: (p) => ({ got: p }), idem: async (p) => ({ got: p }) });
    expect(await client.run(1)).toEqual({ got: 1 });
    expect(await client.idem(2)).toEqual({ got: 2 });
    expect(await client.checked(3)).toBe(3);
    const badParams = await failure(client.checked('x' as never));
    expect(badParams).toBeInstanceOf(ValidationError);
    expect(badParams).toMatchObject({ target: 'params' });
    const badResult = await failure(client.checked(13));
    expect(badResult).toMatchObject({ code: 'KEEL_BROKER_VALIDATION', target: 'result' });
  });

  it('a handler that throws at once, or returns a rejected promise, fails the call with the wire error shapes', async () => {
    const { client, broker } = await open({
      run: () => {
        throw new TypeError('sync boom');
      },
      idem: async () => {
        throw new KeelError('KEEL_TEST_CODED', 'coded', { retryable: false });
      },
    });
    const plain = await failure(client.run(null));
    expect(plain).toBeInstanceOf(RemoteError);
    expect(plain).toMatchObject({ remoteName: 'TypeError', message: 'sync boom', nodeId: broker.nodeId });
    expect(await failure(client.idem(null))).toMatchObject({ code: 'KEEL_TEST_CODED', retryable: false });
    expect(callSide(broker, 'run')).toMatchObject({ calls: 1, errors: 1, inFlight: 0 });
    expect(serveSide(broker, 'run')).toMatchObject({ calls: 1, errors: 1, inFlight: 0 });
  });

  it('a retryable failure of a safe call is tried again in the same broker; an unsafe one is not', async () => {
    let idemTries = 0;
    let runTries = 0;
    const flaky = () => new KeelError('KEEL_TEST_FLAKY', 'flaky', { retryable: true });
    const { client, broker } = await open({
      idem: () => {
        idemTries++;
        if (idemTries < 3) throw flaky();
        return 'third time';
      },
      run: () => {
        runTries++;
        throw flaky();
      },
    });
    expect(await client.idem(null)).toBe('third time');
    expect(idemTries).toBe(3);
    expect(callSide(broker, 'idem')).toMatchObject({ calls: 1, errors: 0, inFlight: 0 });
    expect(serveSide(broker, 'idem')).toMatchObject({ calls: 3, errors: 2, inFlight: 0 });
    expect(await failure(client.run(null))).toMatchObject({ code: 'KEEL_TEST_FLAKY' });
    expect(runTries).toBe(1);
    // An idempotency key makes the same call safe to repeat.
    runTries = 0;
    expect(await failure(client.run(null, { idempotencyKey: 'k1', retries: 1 }))).toMatchObject({
      code: 'KEEL_TEST_FLAKY',
    });
    expect(runTries).toBe(2);
  });

  it('at the deadline the caller gets DeadlineExceededError and ctx.signal aborts with it; stop waits for the handler', async () => {
    let seen: unknown;
    let finished = false;
    const { client, broker } = await open({
      run: async (_p, ctx) => {
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => {
            seen = ctx.signal.reason;
            resolve();
          }),
        );
        await sleep(50);
        finished = true;
        return 'too late';
      },
    });
    const started = Date.now();
    const error = await failure(client.run(null, { timeoutMs: 80 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect(error).toMatchObject({ timeoutMs: 80 });
    expect(seen).toBe(error);
    expect(callSide(broker, 'run')).toMatchObject({
      calls: 1,
      errors: 1,
      errorsByCode: { KEEL_BROKER_DEADLINE: 1 },
    });
    // The abandoned handler is still running: stop() waits for it to end.
    expect(serveSide(broker, 'run')).toMatchObject({ inFlight: 1 });
    await broker.stop({ timeoutMs: 2000 });
    expect(finished).toBe(true);
    expect(serveSide(broker, 'run')).toMatchObject({ inFlight: 0, calls: 1 });
  });

  it('a handler reading ctx.signal after its call ended sees it aborted with the reason, and ctx.deadline is the budget', async () => {
    let ctxSeen: ServiceContext | undefined;
    const { client } = await open({
      run: async (_p, ctx) => {
        ctxSeen = ctx;
        expect(ctx.deadline).toBeGreaterThan(Date.now() + 4000);
        expect(ctx.deadline).toBeLessThanOrEqual(Date.now() + 5000);
        await sleep(100);
        return ctx.signal.aborted;
      },
    });
    const error = await failure(client.run(null, { timeoutMs: 5000, signal: AbortSignal.timeout(20) }));
    expect(error).toMatchObject({ name: 'TimeoutError' });
    await until('the handler read its signal', () => ctxSeen !== undefined);
    await sleep(150);
    expect(ctxSeen?.signal.aborted).toBe(true);
    expect(ctxSeen?.signal.reason).toBe(error);
  });

  it("a parent's abort reaches a nested call in the same broker, and nested calls get the parent's remaining budget", async () => {
    let nestedSignal: AbortSignal | undefined;
    let nestedDeadline = 0;
    let parentDeadline = 0;
    const { client } = await open({
      run: async (_p, ctx) => {
        parentDeadline = ctx.deadline;
        return ctx.call(`${ctx.action.split('.')[0]}.idem`, 'inner', { timeoutMs: 60_000 });
      },
      idem: (_p, ctx) => {
        nestedSignal = ctx.signal;
        nestedDeadline = ctx.deadline;
        return new Promise(() => {});
      },
    });
    const control = new AbortController();
    const call = client.run(null, { timeoutMs: 3000, signal: control.signal });
    await until('the nested handler started', () => nestedSignal !== undefined);
    expect(nestedDeadline).toBeLessThanOrEqual(parentDeadline + 1);
    const reason = new Error('caller left');
    control.abort(reason);
    await expect(call).rejects.toBe(reason);
    await until('the nested signal aborted', () => nestedSignal?.aborted === true);
  });

  it('stop past its grace answers pending calls with BrokerStoppedError and aborts their signals', async () => {
    let signal: AbortSignal | undefined;
    const { client, broker } = await open({
      run: (_p, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      },
    });
    const call = client.run(null, { timeoutMs: 60_000 });
    await until('the handler started', () => signal !== undefined);
    const stopping = broker.stop({ timeoutMs: 50 });
    expect(await failure(call)).toBeInstanceOf(BrokerStoppedError);
    expect(signal?.aborted).toBe(true);
    await stopping;
  });

  it('an open circuit refuses a local call at once, and counts it', async () => {
    const { client, broker } = await open(
      {
        run: () => {
          throw new KeelError('KEEL_TEST_DOWN', 'down', { retryable: true });
        },
      },
      { circuitBreaker: { minimumCalls: 3, failureRate: 0.5, openMs: 60_000 } },
    );
    for (let i = 0; i < 3; i++) await failure(client.run(null));
    const refused = await failure(client.run(null));
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(callSide(broker, 'run')).toMatchObject({ calls: 4, errors: 4, inFlight: 0 });
    expect(serveSide(broker, 'run')).toMatchObject({ calls: 3 });
  });

  it('call middleware still wrap a local call and may add meta the handler sees', async () => {
    const order: string[] = [];
    const { client, broker } = await open({ run: (_p, ctx) => ({ ...ctx.meta }) });
    broker.use({
      call: async (request, next) => {
        order.push(`before ${request.action}`);
        request.meta.tenant = 'acme';
        const result = await next();
        order.push('after');
        return result;
      },
    });
    expect(await client.run(null, { meta: { user: 'u1' } })).toEqual({ user: 'u1', tenant: 'acme' });
    expect(order).toEqual([expect.stringMatching(/^before .*\.run$/), 'after']);
  });

  it("an action's bulkhead holds local calls too: past its slots and queue they are refused, and a queued call whose caller left never runs", async () => {
    const c = contract();
    const gates: (() => void)[] = [];
    const ran: unknown[] = [];
    const service = defineService(
      c,
      {
        actions: {
          run: (p: unknown) => {
            ran.push(p);
            return new Promise<unknown>((resolve) => gates.push(() => resolve(p)));
          },
          idem: (p: unknown) => p,
          checked: (p: number) => p,
          num: (p: unknown) => p,
        },
      } as never,
      { actions: { run: { concurrency: 1, maxQueued: 2 } } } as never,
    );
    const broker = await createBroker({ transport: `memory://local-${randomUUID()}`, services: [service] });
    brokers.push(broker);
    const client = broker.client(c);
    const first = client.run(1);
    const leaving = new AbortController();
    const second = client.run(2, { signal: leaving.signal });
    const third = client.run(3);
    const refused = await failure(client.run(4));
    expect(refused).toBeInstanceOf(BulkheadFullError);
    expect(refused).toMatchObject({ retryable: true });
    await until('the first call runs', () => ran.length === 1);
    const reason = new Error('left the queue');
    leaving.abort(reason);
    await expect(second).rejects.toBe(reason);
    (gates.shift() as () => void)();
    expect(await first).toBe(1);
    await until('the third call runs', () => ran.length === 2);
    (gates.shift() as () => void)();
    expect(await third).toBe(3);
    // The call that left while queued never reached the handler.
    expect(ran).toEqual([1, 3]);
    expect(serveSide(broker, 'run')).toMatchObject({ inFlight: 0 });
  });

  it('leaves no timer behind once the broker stops, and none per call while it runs', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const { client, broker } = await open({});
    for (let i = 0; i < 100; i++) await client.run(i);
    // One shared deadline timer at most, whatever the number of calls.
    expect(timers() - before).toBeLessThanOrEqual(1);
    await broker.stop();
    brokers.splice(brokers.indexOf(broker), 1);
    expect(timers()).toBe(before);
  });
});
