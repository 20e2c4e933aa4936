/** Contract: failures cross the wire as coded errors, never as timeouts or crashes; retries only where safe. */
import { describe, expect, it } from 'vitest';
import { KeelError } from '../../errors.ts';
import { NoRespondersError } from '../../transport/index.ts';
import { RemoteError, UnknownActionError, ValidationError } from '../broker-errors.ts';
import { BulkheadFullError, CircuitOpenError } from '../resilience-errors.ts';
import { defineService } from '../service.ts';
import { failure, type SuiteContext, shapesContract, sleep, until } from './context.contract.ts';

/** A user's own code (built, so the catalogue check of Keel's codes does not read it as one). */
const stockCode = `KEEL_${'TEST'}_OUT_OF_STOCK` as const;

class OutOfStockError extends KeelError {
  readonly data: { sku: string };
  constructor(sku: string) {
    super(stockCode, `No stock of ${sku}`, { retryable: true });
    this.data = { sku };
  }
}

export function failuresContract(ctx: SuiteContext): void {
  const { open, name } = ctx;

  describe('failures', () => {
    it('params the schema refuses arrive as ValidationError with its issues; the handler never runs', async () => {
      const shapes = shapesContract(name());
      let ran = 0;
      const service = defineService(shapes, {
        actions: { area: () => ++ran, run: (p) => p, idem: (p) => p },
      });
      await open({ services: [service], nodeId: 'validator' });
      const caller = await open({ contracts: [shapes] });
      const error = await failure(caller.client(shapes).area({ radius: 'big' } as never));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({
        code: 'KEEL_BROKER_VALIDATION',
        target: 'params',
        nodeId: 'validator',
        issues: [{ message: 'expected a positive number', path: ['radius'] }],
      });
      expect(error.message).toMatch(/radius: expected a positive number/);
      expect(ran).toBe(0);
    });

    it('a result the schema refuses is a ValidationError of the result', async () => {
      const shapes = shapesContract(name());
      const service = defineService(shapes, {
        actions: { area: () => 'wide' as never, run: (p) => p, idem: (p) => p },
      });
      await open({ services: [service] });
      const caller = await open({ contracts: [shapes] });
      await expect(caller.client(shapes).area({ radius: 1 })).rejects.toMatchObject({
        name: 'ValidationError',
        target: 'result',
      });
    });

    it('a thrown KeelError arrives with its code, message, retryable, data and the serving node', async () => {
      const shapes = shapesContract(name());
      const service = defineService(shapes, {
        actions: { area: () => 0, run: () => Promise.reject(new OutOfStockError('a-7')), idem: (p) => p },
      });
      await open({ services: [service], nodeId: 'store-1' });
      const caller = await open({ contracts: [shapes] });
      const error = await failure(caller.client(shapes).run(null, { retries: 0 }));
      expect(error).toBeInstanceOf(RemoteError);
      expect(error).toMatchObject({
        code: stockCode,
        message: 'No stock of a-7',
        retryable: true,
        data: { sku: 'a-7' },
        nodeId: 'store-1',
        remoteName: 'OutOfStockError',
        remoteStack: undefined,
      });
    });

    it('any other throw arrives as RemoteError (name and message); its stack only when the service opts in', async () => {
      const shapes = shapesContract(name());
      const actions = {
        area: () => 0,
        run: () => {
          throw new TypeError('bad wheel');
        },
        idem: (p: unknown) => p,
      };
      await open({ services: [defineService(shapes, { actions })], nodeId: 'quiet' });
      const caller = await open({ contracts: [shapes] });
      const error = await failure(caller.client(shapes).run(null));
      expect(error).toBeInstanceOf(RemoteError);
      expect(error).toMatchObject({
        code: 'KEEL_BROKER_REMOTE',
        remoteName: 'TypeError',
        message: 'bad wheel',
        retryable: false,
        nodeId: 'quiet',
        remoteStack: undefined,
      });
      const other = shapesContract(name());
      await open({ services: [defineService(other, { actions }, { exposeStack: true })] });
      const verbose = await failure((await open({ contracts: [other] })).client(other).run(null));
      expect(verbose.remoteStack).toMatch(/TypeError: bad wheel\n\s+at /);
    });

    it('an unknown action fails at once: UnknownActionError by name, no responders where nobody serves', async () => {
      const shapes = shapesContract(name());
      const caller = await open({ contracts: [shapes] });
      const unknown = await failure(caller.call('nothing.here' as never, null as never));
      expect(unknown).toBeInstanceOf(UnknownActionError);
      expect(unknown.message).toContain(`${shapes.name}.area`);
      // A long budget: only an answer from the engine, not the deadline, can end this call.
      const nobody = await failure(caller.client(shapes).run(null, { timeoutMs: 60_000 }));
      expect(nobody).toBeInstanceOf(NoRespondersError);
    }, 10_000);

    it('a result the serializer cannot encode is a coded error at the caller, not a hang', async () => {
      const shapes = shapesContract(name());
      const service = defineService(shapes, {
        actions: { area: () => 0, run: () => ({ n: 10n }), idem: (p) => p },
      });
      await open({ services: [service] });
      const caller = await open({ contracts: [shapes] });
      const error = await failure(caller.client(shapes).run(null, { timeoutMs: 60_000 }));
      expect(error).toBeInstanceOf(KeelError);
      expect(error.code).toBe('KEEL_TRANSPORT_ENCODE');
      // The service still serves.
      await expect(caller.client(shapes).idem(1)).resolves.toBe(1);
    }, 10_000);

    if (ctx.setup.maxPayload) {
      it('params or a result over the engine limit are coded errors, and the broker goes on', async () => {
        const shapes = shapesContract(name());
        const big = 'x'.repeat(2 * 1024 * 1024);
        const actions = { area: () => 0, run: (p: unknown) => p, idem: () => big };
        await open({ services: [defineService(shapes, { actions })] });
        const client = (await open({ contracts: [shapes] })).client(shapes);
        const sent = await failure(client.run(big, { timeoutMs: 60_000 }));
        expect(sent).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
        expect(sent.message).toMatch(/max_payload/);
        const replied = await failure(client.idem(null, { timeoutMs: 60_000, retries: 0 }));
        expect(replied).toMatchObject({ code: 'KEEL_TRANSPORT_REPLY_TOO_LARGE' });
        await expect(client.run('ok')).resolves.toBe('ok');
      }, 15_000);
    }

    it('a call past an action bulkhead is refused at once with BulkheadFullError; the others run', async () => {
      const shapes = shapesContract(name());
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      let started = 0;
      const service = defineService(
        shapes,
        {
          actions: {
            area: () => 0,
            run: async () => {
              started++;
              await gate;
              return 'done';
            },
            idem: (p) => p,
          },
        },
        { actions: { run: { concurrency: 1, maxQueued: 1 } } },
      );
      await open({ services: [service], nodeId: 'narrow' });
      const client = (await open({ contracts: [shapes] })).client(shapes);
      const first = client.run(null);
      await until('the first call runs', () => started === 1);
      const second = client.run(null);
      await sleep(50);
      const third = await failure(client.run(null, { timeoutMs: 60_000 }));
      expect(third).toBeInstanceOf(BulkheadFullError);
      expect(third).toMatchObject({
        code: 'KEEL_BROKER_BULKHEAD_FULL',
        retryable: true,
        nodeId: 'narrow',
        concurrency: 1,
      });
      // Other actions are not held up by this one's bulkhead.
      await expect(client.idem(5)).resolves.toBe(5);
      release();
      await expect(Promise.all([first, second])).resolves.toEqual(['done', 'done']);
    }, 10_000);

    it('opens the caller circuit of an action that keeps failing: later calls fail fast with CircuitOpenError', async () => {
      const shapes = shapesContract(name());
      let runs = 0;
      const failing = () => {
        runs++;
        throw new OutOfStockError('always');
      };
      await open({
        services: [defineService(shapes, { actions: { area: () => 0, run: failing, idem: (p) => p } })],
      });
      const caller = await open({
        contracts: [shapes],
        circuitBreaker: { minimumCalls: 4, failureRate: 0.5 },
      });
      const client = caller.client(shapes);
      for (let i = 0; i < 4; i++) await expect(client.run(null)).rejects.toMatchObject({ code: stockCode });
      const open_ = await failure(client.run(null));
      expect(open_).toBeInstanceOf(CircuitOpenError);
      expect(open_).toMatchObject({ retryable: true });
      expect(runs).toBe(4);
      // Per action: another action of the same service still goes through.
      await expect(client.idem(1)).resolves.toBe(1);
    });

    it('the circuit judges calls, not tries: calls that a retry saved never open it', async () => {
      const shapes = shapesContract(name());
      let tries = 0;
      const flaky = (p: unknown) => {
        if (++tries % 2 === 1) throw new OutOfStockError('every other try');
        return p;
      };
      await open({
        services: [defineService(shapes, { actions: { area: () => 0, run: (p) => p, idem: flaky } })],
      });
      const caller = await open({
        contracts: [shapes],
        circuitBreaker: { minimumCalls: 4, failureRate: 0.5 },
        retryBudget: { maxTokens: 100 },
      });
      // Half the tries fail, yet every call succeeds: the action is healthy as its callers see it.
      for (let i = 0; i < 12; i++) await expect(caller.client(shapes).idem(i)).resolves.toBe(i);
      expect(tries).toBe(24);
    });

    it('retryBudget sizes the burst of retries a broker allows; false lifts it', async () => {
      const shapes = shapesContract(name());
      let tries = 0;
      const flaky = (p: unknown) => {
        if (++tries % 2 === 1) throw new OutOfStockError('every other try');
        return p;
      };
      await open({
        services: [defineService(shapes, { actions: { area: () => 0, run: (p) => p, idem: flaky } })],
      });
      const outcomes = async (broker: Awaited<ReturnType<typeof open>>) => {
        tries = 0;
        const settled: boolean[] = [];
        for (let i = 0; i < 20; i++) {
          settled.push(
            await broker
              .client(shapes)
              .idem(i)
              .then(
                () => true,
                () => false,
              ),
          );
        }
        return settled.filter(Boolean).length;
      };
      const breaker = { circuitBreaker: false } as const;
      // The default bucket (10 tokens, a retry while more than half is left) lets a few retries through.
      expect(await outcomes(await open({ contracts: [shapes], ...breaker }))).toBeLessThan(20);
      expect(
        await outcomes(await open({ contracts: [shapes], ...breaker, retryBudget: { maxTokens: 50 } })),
      ).toBe(20);
      expect(await outcomes(await open({ contracts: [shapes], ...breaker, retryBudget: false }))).toBe(20);
      await expect(open({ contracts: [shapes], retryBudget: { maxTokens: 0 } })).rejects.toThrow(/maxTokens/);
    });

    it('retries a retryable failure only where the action is idempotent or an idempotency key is given', async () => {
      const shapes = shapesContract(name());
      let calls = 0;
      const flaky = (_p: unknown, c: { idempotencyKey: string | undefined }) => {
        calls++;
        if (calls % 2 === 1) throw new OutOfStockError('flaky');
        return c.idempotencyKey ?? 'ok';
      };
      await open({
        services: [defineService(shapes, { actions: { area: () => 0, run: flaky, idem: flaky } })],
      });
      const client = (await open({ contracts: [shapes] })).client(shapes);
      await expect(client.idem(null)).resolves.toBe('ok');
      expect(calls).toBe(2);
      await expect(client.run(null)).rejects.toMatchObject({ code: stockCode });
      expect(calls).toBe(3);
      calls = 0;
      await expect(client.run(null, { idempotencyKey: 'order-1' })).resolves.toBe('order-1');
      expect(calls).toBe(2);
      calls = 0;
      await expect(client.idem(null, { retries: 0 })).rejects.toMatchObject({ retryable: true });
      expect(calls).toBe(1);
    });
  });
}
