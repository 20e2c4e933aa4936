/**
 * Discovery across processes: two instances of a Keel service, each in its own process on one
 * nats-server, are listed by the official NATS Service API client (`@nats-io/services`) with their
 * endpoints and stats, and by `broker.services()`; once stopped, neither answers any more.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import type { ServiceInfo, ServiceStats } from '@nats-io/services';
import { Svcm } from '@nats-io/services';
import { connect } from '@nats-io/transport-node';
import { expect, it } from 'vitest';
import { createBroker } from '../../src/broker/index.ts';
import { until } from '../../src/transport/event-bridge.contract.ts';
import { engineUrl } from './engine-urls.ts';
import { discoveryFixtureContract } from './fixtures/discovery-contract.ts';

const url = engineUrl('KEEL_NATS_URL');

/** Starts one service instance in a child process; `out()` is what it printed. */
function instance(name: string, nodeId: string) {
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'fixtures/discovery-instance.ts'), url, name, nodeId],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = once(child, 'exit');
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  return { child, exited, out: () => out };
}

/** Everything a NATS Service API iterator yields (the client ends it at its maxWait). */
async function collect<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of iterator) all.push(item);
  return all;
}

it('the official @nats-io/services client lists two Keel instances in other processes, with endpoints and stats', async () => {
  const name = `discovery-${randomUUID().slice(0, 8)}`;
  const instances = [instance(name, 'proc-a'), instance(name, 'proc-b')];
  const contract = discoveryFixtureContract(name);
  const caller = await createBroker({ transport: url, contracts: [contract], nodeId: 'proc-caller' });
  const nc = await connect({ servers: url.replace(/^nats:\/\//, '') });
  try {
    for (const { out } of instances) {
      await until(
        () => out().includes('ready\n'),
        () => `an instance to print ready, got ${JSON.stringify(out())}`,
        10_000,
      );
    }
    const client = caller.client(contract);
    // Enough calls that both instances serve some (the queue group picks at random).
    const servedBy = new Set<unknown>();
    for (let i = 0; i < 40; i++) {
      await client.area(i);
      servedBy.add(await client.whoami(null));
    }
    expect(servedBy).toEqual(new Set(['proc-a', 'proc-b']));
    await expect(client.area(-1)).rejects.toMatchObject({ remoteName: 'RangeError' });

    // @nats-io/services carries its own copy of nats-core's types; the connection is the same at run time.
    // It gathers for the whole 2 s, so an instance answering twice, or late, would show.
    const official = new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]).client({
      strategy: 'timer',
      maxWait: 2000,
    });
    const pings = await collect(await official.ping(name));
    expect(pings.map((p) => p.metadata?.['keel.node_id']).sort()).toEqual(['proc-a', 'proc-b']);
    expect(pings.every((p) => p.name === name && p.version === '1.4.2')).toBe(true);

    const infos: ServiceInfo[] = await collect(await official.info(name));
    expect(infos).toHaveLength(2);
    for (const info of infos) {
      expect(info).toMatchObject({ type: 'io.nats.micro.v1.info_response', name, version: '1.4.2' });
      expect(info.endpoints).toEqual([
        { name: 'area', subject: `${name}.v1.area`, queue_group: `${name}.v1` },
        { name: 'whoami', subject: `${name}.v1.whoami`, queue_group: `${name}.v1` },
      ]);
    }

    const stats: ServiceStats[] = await collect(await official.stats(name));
    expect(stats.map((s) => s.id).sort()).toEqual(infos.map((i) => i.id).sort());
    const total = (endpoint: string, field: 'num_requests' | 'num_errors') =>
      stats.reduce((n, s) => n + (s.endpoints?.find((e) => e.name === endpoint)?.[field] ?? 0), 0);
    expect(total('area', 'num_requests')).toBe(41);
    expect(total('area', 'num_errors')).toBe(1);
    expect(total('whoami', 'num_requests')).toBe(40);
    for (const s of stats) {
      expect(Number.isNaN(Date.parse(s.started))).toBe(false);
      for (const e of s.endpoints ?? []) {
        expect(e.processing_time).toBeGreaterThanOrEqual(0);
        expect(e.average_processing_time).toBe(
          e.num_requests === 0 ? 0 : Math.round(e.processing_time / e.num_requests),
        );
      }
    }
    const failed = stats.flatMap((s) => s.endpoints ?? []).find((e) => e.num_errors === 1);
    expect(failed?.last_error).toMatch(/^ERROR: a side is never negative$/);

    // Keel's own listing sees the same two instances, with the same counters.
    const listed = await caller.services({ name, timeoutMs: 3000 });
    expect(listed.map((s) => s.nodeId).sort()).toEqual(['proc-a', 'proc-b']);
    expect(listed.map((s) => s.id).sort()).toEqual(infos.map((i) => i.id).sort());

    // Stopped instances answer no more.
    for (const { child } of instances) child.stdin.end();
    for (const { exited, out } of instances) {
      const [code] = await exited;
      expect(code).toBe(0);
      expect(out()).toBe('ready\nstopped\n');
    }
    expect(await caller.services({ name, timeoutMs: 500 })).toEqual([]);
  } finally {
    for (const { child, exited } of instances) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    await nc.close();
    await caller.stop({ timeoutMs: 2000 });
  }
}, 60_000);
