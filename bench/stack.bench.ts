/**
 * The scaled-out stack (`npm run bench -- stack`): throughput through HAProxy with two gateways against
 * one (the second put in maintenance through HAProxy's runtime API), the same stack, the same load
 * generator, rounds interleaved; then p99 latency at a fixed request rate for each. On a 2-core machine
 * that also runs the load generator, NATS, Redis, PostgreSQL and the services, a second gateway has no
 * idle core to use: read the ratio as what the machine allows, not what the design does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { haproxyCommand, serverStatuses } from '../deploy/haproxy-admin.ts';
import { Stack } from '../deploy/stack.ts';

const rounds = 5;
const seconds = 4;
const fixedRate = 200;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = (s.length - 1) / 2;
  return ((s[Math.floor(mid)] as number) + (s[Math.ceil(mid)] as number)) / 2;
};

async function load(url: string, options: { overallRate?: number } = {}): Promise<autocannon.Result> {
  return autocannon({ url, connections: 32, duration: seconds, timeout: 10, ...options });
}

export default async function main(): Promise<void> {
  const runDir = mkdtempSync(join(tmpdir(), 'keel-stack-bench-'));
  const stack = new Stack({
    command: 'up',
    gateways: 2,
    services: 2,
    workers: 1,
    port: 0,
    natsNodes: 3,
    runDir,
    quiet: true,
  });
  try {
    await stack.up();
    const created = await fetch(`${stack.url}/api/shapes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'circle', radius: 2 }),
    });
    const { id } = (await created.json()) as { id: string };
    const url = `${stack.url}/api/shapes/${id}`;
    const setGateways = async (count: 1 | 2) => {
      await haproxyCommand(
        stack.adminSocket,
        `set server gateways/gw2 state ${count === 2 ? 'ready' : 'maint'}`,
      );
      const deadline = Date.now() + 15_000;
      for (;;) {
        const servers = await serverStatuses(stack.adminSocket, 'gateways');
        const up = servers.filter((s) => s.status.startsWith('UP')).length;
        if (up === count) return;
        if (Date.now() > deadline) throw new Error(`HAProxy did not settle at ${count} gateways`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await load(url); // warm both gateways, the services, the pool and PostgreSQL's cache
    const rps: Record<1 | 2, number[]> = { 1: [], 2: [] };
    const p99: Record<1 | 2, number[]> = { 1: [], 2: [] };
    for (let round = 0; round < rounds; round++) {
      for (const count of round % 2 === 0 ? ([2, 1] as const) : ([1, 2] as const)) {
        await setGateways(count);
        const result = await load(url);
        if (result.non2xx > 0 || result.errors > 0)
          throw new Error(`${count} gateway(s): ${result.non2xx} non-2xx, ${result.errors} errors`);
        rps[count].push(result.requests.average);
        p99[count].push(result.latency.p99);
      }
    }
    const fixed: Record<1 | 2, number> = { 1: 0, 2: 0 };
    for (const count of [2, 1] as const) {
      await setGateways(count);
      fixed[count] = (await load(url, { overallRate: fixedRate })).latency.p99;
    }
    await setGateways(2);
    const ratios = rps[2].map((r, i) => r / (rps[1][i] as number));
    console.log(
      `GET /api/shapes/:id through HAProxy, 32 connections, ${rounds} interleaved rounds of ${seconds} s\n`,
    );
    console.log('| gateways | req/s (median) | p99 at full load (median) | p99 at a fixed 200 req/s |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const count of [1, 2] as const) {
      console.log(
        `| ${count} | ${Math.round(median(rps[count]))} | ${median(p99[count])} ms | ${fixed[count]} ms |`,
      );
    }
    console.log(
      `\n2 gateways / 1: ${median(ratios).toFixed(2)}× throughput (rounds ${ratios.map((r) => r.toFixed(2)).join(', ')})\n`,
    );
  } finally {
    await stack.stop();
    rmSync(runDir, { recursive: true, force: true });
  }
}
