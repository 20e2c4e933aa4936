/** Contract: discovery through the NATS Service API ($SRV), `broker.services()`, and `broker.metrics()`. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.ts';
import { openTransport } from '../../transport/index.ts';
import { BrokerStoppedError, ValidationError } from '../broker-errors.ts';
import { latencyBucketsMs } from '../metrics.ts';
import { defineService } from '../service.ts';
import { failure, type SuiteContext, shapesContract, until } from './context.contract.ts';

export function discoveryContract(ctx: SuiteContext): void {
  const { open, name } = ctx;

  /** A service of a fresh contract: `run` fails with InvalidArgumentError on 'fail', `idem` waits for `gate`. */
  function setup(version: number | string = 1) {
    const shapes = shapesContract(name('disc'), version);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const service = defineService(shapes, {
      actions: {
        area: (r) => r * r,
        run: (p) => {
          if (p === 'fail') throw new InvalidArgumentError('no such shape');
          return p;
        },
        idem: async () => {
          await gate;
          return 'done';
        },
      },
    });
    return { shapes, service, release };
  }

  describe('discovery and metrics', () => {
    it('services() lists every live instance with its version, nodeId, actions, subjects and stats', async () => {
      const { shapes, service } = setup('2.1.0');
      const other = setup(3);
      await open({ services: [service], nodeId: 'disc-a' });
      await open({ services: [service, other.service], nodeId: 'disc-b' });
      const caller = await open({ contracts: [shapes] });
      const client = caller.client(shapes);
      for (let i = 0; i < 6; i++) await client.area({ radius: 2 });
      await client.run('fail').catch(() => {});

      const listed = await caller.services({ name: shapes.name, timeoutMs: 1500 });
      expect(listed.map((s) => s.nodeId).sort()).toEqual(['disc-a', 'disc-b']);
      for (const instance of listed) {
        expect(instance).toMatchObject({
          name: shapes.name,
          version: '2.1.0',
          id: expect.stringMatching(/^[A-Za-z0-9_-]+$/),
          metadata: { 'keel.node_id': instance.nodeId, 'keel.contract_version': '2.1.0' },
        });
        expect(Number.isNaN(Date.parse(instance.started))).toBe(false);
        expect(instance.actions.map((a) => [a.name, a.subject, a.queueGroup])).toEqual([
          ['area', `${shapes.name}.v2.area`, `${shapes.name}.v2`],
          ['run', `${shapes.name}.v2.run`, `${shapes.name}.v2`],
          ['idem', `${shapes.name}.v2.idem`, `${shapes.name}.v2`],
        ]);
      }
      // The queue group split the calls between them; together they served every one.
      const sum = (action: string, field: 'requests' | 'errors') =>
        listed.reduce((n, s) => n + (s.actions.find((a) => a.name === action)?.[field] ?? 0), 0);
      expect(sum('area', 'requests')).toBe(6);
      expect(sum('run', 'requests')).toBe(1);
      expect(sum('run', 'errors')).toBe(1);
      const failed = listed.flatMap((s) => s.actions).find((a) => a.errors > 0);
      expect(failed?.lastError).toBe('KEEL_INVALID_ARGUMENT: no such shape');
      expect(failed?.processingTimeNs).toBeGreaterThan(0);

      // Without a name: every service, the other contract's instance (a number version shows as x.0.0) too.
      const all = await caller.services({ timeoutMs: 1500 });
      expect(all.filter((s) => s.name === other.shapes.name)).toEqual([
        expect.objectContaining({ version: '3.0.0', nodeId: 'disc-b' }),
      ]);
    }, 15_000);

    it('answers $SRV.PING, INFO and STATS on the three subjects ADR-32 names', async () => {
      const { shapes, service } = setup();
      const server = await open({ services: [service], nodeId: 'disc-ping' });
      const transport = await openTransport(ctx.url());
      try {
        const [listed] = await server.services({ name: shapes.name, timeoutMs: 1500, stallMs: 300 });
        const id = listed?.id as string;
        for (const verb of ['PING', 'INFO', 'STATS'] as const) {
          for (const subject of [
            `$SRV.${verb}`,
            `$SRV.${verb}.${shapes.name}`,
            `$SRV.${verb}.${shapes.name}.${id}`,
          ]) {
            const replies = await transport.requestMany(subject, undefined, {
              timeoutMs: 1500,
              stallMs: 300,
            });
            const ours = replies
              .map((r) => (r.ok ? (r.value as Record<string, unknown>) : undefined))
              .filter((v) => v?.id === id);
            expect(ours, subject).toEqual([
              expect.objectContaining({
                type: `io.nats.micro.v1.${verb.toLowerCase()}_response`,
                name: shapes.name,
                id,
                version: '1.0.0',
              }),
            ]);
          }
        }
        const [info] = await transport.requestMany(`$SRV.INFO.${shapes.name}.${id}`, undefined, {
          timeoutMs: 1500,
          maxReplies: 1,
        });
        expect(info?.ok && (info.value as { endpoints: unknown }).endpoints).toEqual([
          { name: 'area', subject: `${shapes.name}.v1.area`, queue_group: `${shapes.name}.v1` },
          { name: 'run', subject: `${shapes.name}.v1.run`, queue_group: `${shapes.name}.v1` },
          { name: 'idem', subject: `${shapes.name}.v1.idem`, queue_group: `${shapes.name}.v1` },
        ]);
      } finally {
        await transport.close({ timeoutMs: 2000 });
      }
    }, 15_000);

    it('stop() removes the $SRV subscriptions: a stopped instance answers nothing', async () => {
      const { shapes, service } = setup();
      const transport = await openTransport(ctx.url());
      try {
        const broker = await open({ services: [service], transport });
        const watcher = await open({ contracts: [shapes] });
        expect(await watcher.services({ name: shapes.name, timeoutMs: 1500 })).toHaveLength(1);
        await broker.stop();
        // The broker's transport stays open (it was given one): only the broker's answers are gone.
        expect(transport.closed).toBe(false);
        for (const verb of ['PING', 'INFO', 'STATS']) {
          await expect(
            transport.requestMany(`$SRV.${verb}.${shapes.name}`, undefined, { timeoutMs: 300 }),
          ).resolves.toEqual([]);
        }
        expect(await watcher.services({ name: shapes.name, timeoutMs: 300 })).toEqual([]);
      } finally {
        await transport.close({ timeoutMs: 2000 });
      }
    }, 15_000);

    it('discovery: false serves without answering $SRV', async () => {
      const { shapes, service } = setup();
      await open({ services: [service], discovery: false });
      const caller = await open({ contracts: [shapes] });
      await expect(caller.client(shapes).area({ radius: 1 })).resolves.toBe(1);
      expect(await caller.services({ name: shapes.name, timeoutMs: 300 })).toEqual([]);
    });

    it('refuses bad services() input by name, and a stopped broker with BrokerStoppedError', async () => {
      const broker = await open({});
      const refusals: [unknown, RegExp][] = [
        [
          { timeout: 5 },
          /Broker\.services\(\) options: unknown option "timeout"; known options: name, timeoutMs, stallMs, signal/,
        ],
        [{ timeoutMs: 0 }, /Broker\.services\(\) timeoutMs must be a number of milliseconds ≥ 1; received 0/],
        [
          { timeoutMs: Number.POSITIVE_INFINITY },
          /timeoutMs must be a number of milliseconds ≥ 1; received Infinity/,
        ],
        [{ timeoutMs: '5' }, /timeoutMs must be a number of milliseconds/],
        [{ stallMs: -1 }, /Broker\.services\(\) stallMs must be/],
        [{ name: 'a.b' }, /Broker\.services\(\) name must be a service name/],
        [{ signal: 'x' }, /Broker\.services\(\) signal must be an AbortSignal/],
        ['fast', /Broker\.services\(\) options must be an options object/],
      ];
      for (const [options, message] of refusals) {
        const error = await failure(broker.services(options as never));
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect(error.message).toMatch(message);
      }
      const reason = new Error('no wait');
      await expect(broker.services({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      await broker.stop();
      await expect(broker.services()).rejects.toBeInstanceOf(BrokerStoppedError);
    });

    it('metrics() counts each action on both sides: calls, errors by code, in-flight and latency', async () => {
      const { shapes, service, release } = setup();
      const server = await open({ services: [service], nodeId: 'm-server' });
      const caller = await open({ contracts: [shapes], nodeId: 'm-caller' });
      const client = caller.client(shapes);
      await client.area({ radius: 3 });
      await client.area({ radius: 4 });
      await expect(client.area({ radius: -1 })).rejects.toBeInstanceOf(ValidationError);
      await client.run('fail').catch(() => {});
      const held = client.idem(null);
      await until('the held call is in flight on both sides', () => {
        const m = [...caller.metrics().actions, ...server.metrics().actions];
        return m.filter((a) => a.action === `${shapes.name}.idem` && a.inFlight === 1).length === 2;
      });
      release();
      await held;

      const of = (metrics: ReturnType<typeof caller.metrics>, action: string) =>
        metrics.actions.find((a) => a.action === `${shapes.name}.${action}`);
      const callerMetrics = caller.metrics();
      expect(callerMetrics.nodeId).toBe('m-caller');
      expect(callerMetrics.latencyBucketsMs).toEqual(latencyBucketsMs);
      expect(of(callerMetrics, 'area')).toMatchObject({
        side: 'call',
        version: 1,
        calls: 3,
        errors: 1,
        errorsByCode: { KEEL_BROKER_VALIDATION: 1 },
        inFlight: 0,
      });
      expect(of(callerMetrics, 'run')).toMatchObject({
        calls: 1,
        errors: 1,
        errorsByCode: { KEEL_INVALID_ARGUMENT: 1 },
      });
      const serverMetrics = server.metrics();
      expect(of(serverMetrics, 'area')).toMatchObject({
        side: 'serve',
        calls: 3,
        errors: 1,
        errorsByCode: { KEEL_BROKER_VALIDATION: 1 },
        lastError: { code: 'KEEL_BROKER_VALIDATION', message: expect.any(String) },
      });
      expect(of(serverMetrics, 'idem')).toMatchObject({ calls: 1, errors: 0, inFlight: 0 });
      for (const action of [...callerMetrics.actions, ...serverMetrics.actions]) {
        const { buckets, count, sum } = action.latencyMs;
        expect(buckets).toHaveLength(latencyBucketsMs.length);
        expect(buckets.every((n, i) => i === 0 || n >= (buckets[i - 1] as number))).toBe(true);
        expect(buckets.at(-1)).toBeLessThanOrEqual(count);
        expect(count).toBe(action.calls);
        expect(sum).toBeGreaterThanOrEqual(0);
      }
      // The server's $SRV stats are the same counters.
      const [listed] = await caller.services({ name: shapes.name, timeoutMs: 1500 });
      const area = listed?.actions.find((a) => a.name === 'area');
      expect(area).toMatchObject({ requests: 3, errors: 1 });
      expect(area?.processingTimeNs).toBe(
        Math.round((of(serverMetrics, 'area')?.latencyMs.sum as number) * 1e6),
      );
    }, 15_000);

    it('metrics() counts a local call on both sides of one broker, and a refused call as a failure', async () => {
      const { shapes, service } = setup();
      const broker = await open({ services: [service] });
      // Every served action is there from the start, at zero; nothing was called yet.
      expect(broker.metrics().actions.map((a) => [a.side, a.action, a.calls, a.inFlight])).toEqual(
        ['area', 'run', 'idem'].map((action) => ['serve', `${shapes.name}.${action}`, 0, 0]),
      );
      await broker.client(shapes).area({ radius: 1 });
      const sides = broker
        .metrics()
        .actions.filter((a) => a.action === `${shapes.name}.area`)
        .map((a) => [a.side, a.calls]);
      expect(sides).toEqual([
        ['call', 1],
        ['serve', 1],
      ]);
      await broker.stop();
      await expect(broker.client(shapes).area({ radius: 1 })).rejects.toBeInstanceOf(BrokerStoppedError);
      const call = broker.metrics().actions.find((a) => a.side === 'call');
      expect(call).toMatchObject({ calls: 2, errors: 1, errorsByCode: { KEEL_BROKER_STOPPED: 1 } });
    });
  });
}
