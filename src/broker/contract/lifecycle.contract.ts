/** Contract: starting → ready → draining → stopped, a stop that drains before it aborts, refusals after it. */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BrokerStoppedError, BrokerTransportError } from '../broker-errors.ts';
import { createBroker } from '../create-broker.ts';
import { defineService } from '../service.ts';
import type { ServiceContext } from '../service-context.ts';
import { failure, type SuiteContext, shapesContract, sleep, until } from './context.contract.ts';

export function lifecycleContract(ctx: SuiteContext): void {
  const { open, name } = ctx;

  describe('lifecycle', () => {
    it('stop leaves the queue groups first: new calls reach the other instance; a call in flight finishes', async () => {
      const shapes = shapesContract(name());
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      const holding: Record<string, number> = {};
      const service = defineService(shapes, {
        actions: {
          area: () => 0,
          run: async (_p, c) => {
            holding[c.nodeId] = (holding[c.nodeId] ?? 0) + 1;
            await gate;
            return c.nodeId;
          },
          idem: (_p, c) => c.nodeId,
        },
      });
      const first = await open({ services: [service], nodeId: 'first' });
      await open({ services: [service], nodeId: 'second' });
      const client = (await open({ contracts: [shapes] })).client(shapes);
      // Enough calls that each instance holds some (NATS picks members at random).
      const runs = Array.from({ length: 24 }, () => client.run(null));
      await until('both instances hold calls', () => (holding.first ?? 0) > 0 && (holding.second ?? 0) > 0);
      expect(first.state).toBe('ready');
      const stopping = first.stop({ timeoutMs: 10_000 });
      expect(first.state).toBe('draining');
      // The engine hears of the departure a moment later (NATS: the UNSUB goes out on the next flush).
      await sleep(200);
      const after = await Promise.all(Array.from({ length: 10 }, () => client.idem(null)));
      expect(new Set(after)).toEqual(new Set(['second']));
      release();
      expect(new Set(await Promise.all(runs))).toEqual(new Set(['first', 'second']));
      await stopping;
      expect(first.state).toBe('stopped');
    });

    it('stop aborts calls still running at its deadline: the handler signal and the caller see BrokerStoppedError', async () => {
      const shapes = shapesContract(name());
      const reasons: unknown[] = [];
      let started = false;
      const run = (_p: unknown, c: ServiceContext) =>
        new Promise((_resolve, reject) => {
          started = true;
          c.signal.addEventListener('abort', () => {
            reasons.push(c.signal.reason);
            reject(c.signal.reason);
          });
        });
      const server = await open({
        services: [defineService(shapes, { actions: { area: () => 0, run, idem: (p) => p } })],
      });
      const caller = await open({ contracts: [shapes] });
      const call = caller.client(shapes).run(null, { timeoutMs: 30_000 });
      await until('the handler started', () => started);
      await server.stop({ timeoutMs: 100 });
      expect(reasons[0]).toBeInstanceOf(BrokerStoppedError);
      await expect(call).rejects.toBeInstanceOf(BrokerStoppedError);
    });

    it('stop also ends the calls this broker is still waiting for, past its deadline', async () => {
      const shapes = shapesContract(name());
      let started = false;
      const forever = () => {
        started = true;
        return new Promise(() => {});
      };
      const service = defineService(
        shapes,
        { actions: { area: () => 0, run: forever, idem: (p) => p } },
        {
          actions: { run: { timeoutMs: 5000 } },
        },
      );
      await open({ services: [service] });
      const caller = await open({ contracts: [shapes] });
      const call = caller.client(shapes).run(null, { timeoutMs: 30_000 });
      await until('the handler started', () => started);
      await caller.stop({ timeoutMs: 100 });
      await expect(call).rejects.toBeInstanceOf(BrokerStoppedError);
    });

    it('a stopped broker refuses calls and emits with BrokerStoppedError; stop is idempotent', async () => {
      const shapes = shapesContract(name());
      const broker = await open({
        services: [defineService(shapes, { actions: { area: () => 0, run: (p) => p, idem: (p) => p } })],
      });
      const first = broker.stop();
      expect(broker.stop()).toBe(first);
      await first;
      expect(broker.state).toBe('stopped');
      await expect(broker.client(shapes).run(1)).rejects.toBeInstanceOf(BrokerStoppedError);
      await expect(broker.emit(`${shapes.name}.created`, 1)).rejects.toBeInstanceOf(BrokerStoppedError);
    });

    it('leaves no abort listener on a caller signal shared by many calls, local or remote', async () => {
      const shapes = shapesContract(name());
      const service = defineService(shapes, { actions: { area: () => 0, run: (p) => p, idem: (p) => p } });
      const server = await open({ services: [service] });
      const caller = await open({ contracts: [shapes] });
      const shared = new AbortController();
      const calls = [server, caller].flatMap((b) =>
        Array.from({ length: 25 }, (_, i) => b.client(shapes).run(i, { signal: shared.signal })),
      );
      await Promise.all(calls);
      expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
    });

    it('refuses redis:// (and a Redis transport) saying why', async () => {
      const error = await failure(createBroker({ transport: 'redis://127.0.0.1:1' }));
      expect(error).toBeInstanceOf(BrokerTransportError);
      expect(error.message).toMatch(/no queue groups/);
      const fake = { kind: 'redis', request() {} } as never;
      await expect(createBroker({ transport: fake })).rejects.toBeInstanceOf(BrokerTransportError);
    });

    it('refuses bad options by name', async () => {
      await expect(createBroker({ transport: ctx.url(), nodeID: 'x' } as never)).rejects.toThrow(
        /createBroker\(\) options: unknown option "nodeID"; known options: transport, services/,
      );
      await expect(
        createBroker({ transport: ctx.url(), defaultTimeoutMs: Number.POSITIVE_INFINITY }),
      ).rejects.toThrow(/defaultTimeoutMs must be a number of milliseconds ≥ 1/);
      const shapes = shapesContract(name());
      const broker = await open({ contracts: [shapes] });
      await expect(broker.client(shapes).run(1, { timeout: 5 } as never)).rejects.toThrow(
        /unknown option "timeout"/,
      );
      await expect(broker.client(shapes).run(1, { timeoutMs: Number.POSITIVE_INFINITY })).rejects.toThrow(
        /timeoutMs/,
      );
    });
  });
}
