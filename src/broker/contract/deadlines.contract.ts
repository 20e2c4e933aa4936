/** Contract: every call has a deadline; nested calls get what is left; depth is capped; aborts reach the handler. */
import { describe, expect, it } from 'vitest';
import { CallDepthError, DeadlineExceededError } from '../broker-errors.ts';
import { defineService } from '../service.ts';
import type { ServiceContext } from '../service-context.ts';
import { failure, type SuiteContext, shapesContract, sleep, until } from './context.contract.ts';

/** A handler that waits until its signal aborts, and records why. */
function waiter(reasons: unknown[], started?: () => void) {
  return (_p: unknown, c: ServiceContext) =>
    new Promise((_resolve, reject) => {
      started?.();
      c.signal.addEventListener('abort', () => {
        reasons.push(c.signal.reason);
        reject(c.signal.reason);
      });
    });
}

export function deadlinesContract(ctx: SuiteContext): void {
  const { open, name } = ctx;

  describe('deadlines and cancellation', () => {
    for (const preferLocal of [false, true]) {
      const where = preferLocal ? 'in the same broker' : 'on another broker';
      it(`a call past its timeoutMs fails with DeadlineExceededError and the handler's signal aborts (${where})`, async () => {
        const shapes = shapesContract(name());
        const reasons: unknown[] = [];
        const service = defineService(shapes, {
          actions: { area: () => 0, run: waiter(reasons), idem: (p) => p },
        });
        const server = await open({ services: [service] });
        const caller = preferLocal ? server : await open({ contracts: [shapes] });
        const error = await failure(caller.client(shapes).run(null, { timeoutMs: 150 }));
        expect(error).toBeInstanceOf(DeadlineExceededError);
        expect(error).toMatchObject({ code: 'KEEL_BROKER_DEADLINE', retryable: true, timeoutMs: 150 });
        await until('the handler aborted', () => reasons.length === 1);
      });

      it(`a caller's abort reaches the handler's ctx.signal (${where})`, async () => {
        const shapes = shapesContract(name());
        const reasons: unknown[] = [];
        let started = false;
        const service = defineService(shapes, {
          actions: { area: () => 0, run: waiter(reasons, () => (started = true)), idem: (p) => p },
        });
        const server = await open({ services: [service] });
        const caller = preferLocal ? server : await open({ contracts: [shapes] });
        const control = new AbortController();
        const call = caller.client(shapes).run(null, { signal: control.signal, timeoutMs: 30_000 });
        await until('the handler started', () => started);
        const reason = new Error('user left');
        control.abort(reason);
        await expect(call).rejects.toBe(reason);
        await until('the handler aborted', () => reasons.length === 1);
      });
    }

    it('a nested call gets only the budget left, and one with none left is not sent', async () => {
      const shapes = shapesContract(name());
      const seen: number[] = [];
      let innerRuns = 0;
      const service = defineService(shapes, {
        actions: {
          area: () => 0,
          run: async (p, c) => {
            if (p === 'late') await sleep(c.deadline - Date.now() + 20);
            return c.call(`${shapes.name}.idem`, c.deadline, { timeoutMs: 60_000 });
          },
          idem: (outer, c) => {
            innerRuns++;
            seen.push(c.deadline - (outer as number));
            return c.depth;
          },
        },
      });
      await open({ services: [service] });
      const client = (await open({ contracts: [shapes] })).client(shapes);
      await expect(client.run('now', { timeoutMs: 5000 })).resolves.toBe(2);
      // The inner deadline is the outer one (to the millisecond rounding), not 60 s later.
      expect(seen[0]).toBeLessThanOrEqual(2);
      const error = await failure(client.run('late', { timeoutMs: 200 }));
      expect(error).toBeInstanceOf(DeadlineExceededError);
      await sleep(100);
      expect(innerRuns).toBe(1);
    });

    it('nested calls deeper than maxCallDepth fail with CallDepthError', async () => {
      const shapes = shapesContract(name());
      const service = defineService(shapes, {
        actions: { area: () => 0, run: (_p, c) => c.call(`${shapes.name}.run`, null), idem: (p) => p },
      });
      await open({ services: [service], maxCallDepth: 4 });
      const caller = await open({ contracts: [shapes], maxCallDepth: 4 });
      const error = await failure(caller.client(shapes).run(null));
      expect(error).toBeInstanceOf(CallDepthError);
      expect(error).toMatchObject({ code: 'KEEL_BROKER_DEPTH', depth: 5, maxCallDepth: 4 });
    });

    it("an action's own timeoutMs ends a call on the serving side, however long the caller waits", async () => {
      const shapes = shapesContract(name());
      const reasons: unknown[] = [];
      const service = defineService(
        shapes,
        { actions: { area: () => 0, run: () => new Promise(() => {}), idem: waiter(reasons) } },
        { actions: { run: { timeoutMs: 100 }, idem: { timeoutMs: 100 } } },
      );
      await open({ services: [service], nodeId: 'capped' });
      const client = (await open({ contracts: [shapes] })).client(shapes);
      const error = await failure(client.run(null, { timeoutMs: 30_000 }));
      expect(error).toBeInstanceOf(DeadlineExceededError);
      expect(error).toMatchObject({ nodeId: 'capped', timeoutMs: 100 });
      await expect(client.idem(null, { timeoutMs: 30_000, retries: 0 })).rejects.toBeInstanceOf(
        DeadlineExceededError,
      );
      expect(reasons).toHaveLength(1);
    });

    for (const preferLocal of [false, true]) {
      const where = preferLocal ? 'in the same broker' : 'on another broker';
      it(`attemptTimeoutMs abandons a try that hangs: its signal aborts and a safe call is tried again within timeoutMs (${where})`, async () => {
        const shapes = shapesContract(name());
        const reasons: unknown[] = [];
        let tries = 0;
        const hangOnce = (p: unknown, c: ServiceContext) => (++tries === 1 ? waiter(reasons)(p, c) : p);
        const service = defineService(shapes, { actions: { area: () => 0, run: hangOnce, idem: hangOnce } });
        const server = await open({ services: [service] });
        const caller = preferLocal ? server : await open({ contracts: [shapes] });
        const client = caller.client(shapes);
        const started = Date.now();
        await expect(client.idem('again', { timeoutMs: 20_000, attemptTimeoutMs: 150 })).resolves.toBe(
          'again',
        );
        expect(Date.now() - started).toBeLessThan(20_000);
        expect(tries).toBe(2);
        await until('the abandoned try aborted', () => reasons.length === 1);
        // A call that is not safe to repeat ends with its first try.
        tries = 0;
        const error = await failure(client.run(null, { timeoutMs: 20_000, attemptTimeoutMs: 150 }));
        expect(error).toBeInstanceOf(DeadlineExceededError);
        expect(error).toMatchObject({ timeoutMs: 150, retryable: true });
        expect(tries).toBe(1);
        await until('the second abandoned try aborted', () => reasons.length === 2);
      });
    }
  });
}
