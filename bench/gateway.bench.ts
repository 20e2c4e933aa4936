/**
 * HTTP through the shapes backend's gateway and broker (a local call) against a bare Fastify route reading
 * the same row from the same SQLite store: `GET /api/shapes/:id` and `POST /api/shapes`, requests per second
 * and p99 latency from autocannon, and the server's CPU time per request. The servers run in a child
 * process (bench/gateway-server.ts); the load comes from this one. Each round measures every candidate
 * once, in rotating order, and ratios are taken round by round.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { type Result, spread, target } from './harness.ts';

const ROUNDS = 7;
const DURATION_S = 3;
const CONNECTIONS = 16;

interface Sample {
  readonly rps: number;
  readonly p99: number;
  readonly errors: number;
  readonly non2xx: number;
  /** The server process's CPU time (user + system) per request served, in µs; undefined off Linux. */
  readonly cpuUs: number | undefined;
}

/**
 * The server's CPU time so far in µs, from /proc (Linux), or undefined. Only the candidate under load is
 * busy during a sample, so the difference over a sample is that candidate's; unlike requests/s, it hardly
 * depends on how much of the shared cores the load generator got.
 */
function serverCpuUs(pid: number | undefined): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // utime and stime, in clock ticks of 1/100 s (USER_HZ on Linux).
    return ((Number(fields[11]) + Number(fields[12])) / 100) * 1e6;
  } catch {
    return undefined;
  }
}

let serverPid: number | undefined;

async function load(url: string, method: 'GET' | 'POST', body?: string): Promise<Sample> {
  const cpuBefore = serverCpuUs(serverPid);
  const result = await autocannon({
    url,
    method,
    connections: CONNECTIONS,
    duration: DURATION_S,
    ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
  });
  const cpuAfter = serverCpuUs(serverPid);
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
    cpuUs:
      cpuBefore === undefined || cpuAfter === undefined || result.requests.total === 0
        ? undefined
        : (cpuAfter - cpuBefore) / result.requests.total,
  };
}

async function compare(
  title: string,
  candidates: { name: string; url: string }[],
  method: 'GET' | 'POST',
  body?: string,
) {
  const samples = new Map<string, Sample[]>(candidates.map((c) => [c.name, []]));
  // Warm each side (JIT, connection pools, SQLite's page cache).
  for (const c of candidates) await load(c.url, method, body);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[(i + round) % candidates.length] as { name: string; url: string };
      samples.get(c.name)?.push(await load(c.url, method, body));
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.log(`### ${title}\n`);
  console.log(
    `${CONNECTIONS} connections, ${DURATION_S} s per sample, ${ROUNDS} interleaved rounds (medians)\n`,
  );
  console.log('| candidate | requests/s | p99 latency | server CPU per request | failed |');
  console.log('| --- | --- | --- | --- | --- |');
  const results: Result[] = [];
  for (const c of candidates) {
    const xs = samples.get(c.name) as Sample[];
    const failed = xs.reduce((n, s) => n + s.errors + s.non2xx, 0);
    const cpu = xs.every((s) => s.cpuUs !== undefined)
      ? `${median(xs.map((s) => s.cpuUs as number)).toFixed(1)} µs`
      : '—';
    console.log(
      `| ${c.name} | ${Math.round(median(xs.map((s) => s.rps)))} | ${median(xs.map((s) => s.p99))} ms | ${cpu} | ${failed} |`,
    );
    // As time per request, so the harness's round-by-round ratios read "throughput of A / throughput of B".
    const ns = xs.map((s) => 1e9 / s.rps);
    results.push({
      name: c.name,
      medianNs: median(ns),
      minNs: Math.min(...ns),
      heapBytes: undefined,
      samplesNs: ns,
    });
  }
  console.log('');
  return results;
}

/**
 * Where there are at least two cores and util-linux's taskset, the server runs on the last core and the
 * load generator (this process, for the length of this benchmark) on the others: neither migrates onto
 * the other's core, which on a shared two-core machine makes the server's CPU time per request steady
 * from round to round. Every candidate is in the one server process, so each gets the same core.
 */
function pinning(): { server: string[]; restore: () => void } {
  const last = availableParallelism() - 1;
  const set = (cores: string) => spawnSync('taskset', ['-a', '-p', '-c', cores, String(process.pid)]);
  if (last < 1 || set(last === 1 ? '0' : `0-${last - 1}`).status !== 0) {
    return { server: [], restore: () => {} };
  }
  return { server: ['taskset', '-c', String(last)], restore: () => set(`0-${last}`) };
}

export default async function (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-gateway-'));
  const pin = pinning();
  const [command = process.execPath, ...prefix] = [...pin.server, process.execPath];
  const server = spawn(
    command,
    [...prefix, '--conditions=keel-source', join(import.meta.dirname, 'gateway-server.ts'), dir],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, NODE_NO_WARNINGS: '1' } },
  );
  serverPid = server.pid;
  try {
    const [line] = (await Promise.race([
      once(server.stdout, 'data'),
      new Promise((_, fail) =>
        setTimeout(() => fail(new Error('gateway-server did not start in 30 s')), 30_000),
      ),
    ])) as [Buffer];
    const { gateway, plugin, direct, optioned, bare, id } = JSON.parse(String(line)) as {
      gateway: string;
      plugin: string;
      direct: string;
      optioned: string;
      bare: string;
      id: string;
    };

    const get = await compare(
      'GET /api/shapes/:id',
      [
        { name: 'bare Fastify', url: `${bare}/api/shapes/${id}` },
        { name: 'Keel gateway + broker', url: `${gateway}/api/shapes/${id}` },
        { name: 'keelGateway plugin + broker', url: `${plugin}/api/shapes/${id}` },
        { name: 'Fastify route + broker call', url: `${direct}/api/shapes/${id}` },
        {
          name: 'Fastify route + broker.call with per-request options',
          url: `${optioned}/api/shapes/${id}`,
        },
      ],
      'GET',
    );
    const body = JSON.stringify({ kind: 'triangle', a: 3, b: 4, c: 5 });
    const post = await compare(
      'POST /api/shapes',
      [
        { name: 'bare Fastify', url: `${bare}/api/shapes` },
        { name: 'Keel gateway + broker', url: `${gateway}/api/shapes` },
        { name: 'keelGateway plugin + broker', url: `${plugin}/api/shapes` },
        { name: 'Fastify route + broker call', url: `${direct}/api/shapes` },
        { name: 'Fastify route + broker.call with per-request options', url: `${optioned}/api/shapes` },
      ],
      'POST',
      body,
    );
    // Time per request of the bare route over the gateway's = the gateway's throughput as a share of bare.
    target(
      'GET /api/shapes/:id: gateway rps / bare Fastify rps',
      spread(get, 'bare Fastify', 'Keel gateway + broker'),
      0.85,
      'at least',
    );
    target(
      'POST /api/shapes: gateway rps / bare Fastify rps',
      spread(post, 'bare Fastify', 'Keel gateway + broker'),
      0.8,
      'at least',
    );
    // Not targets: where the gap is — createGateway's own parts, the plugin, or the broker's local call.
    for (const [method, results] of [
      ['GET', get],
      ['POST', post],
    ] as const) {
      for (const name of [
        'keelGateway plugin + broker',
        'Fastify route + broker call',
        'Fastify route + broker.call with per-request options',
      ]) {
        const s = spread(results, 'bare Fastify', name);
        console.log(
          `- ${method}: ${name} rps / bare Fastify rps: median ${s.median.toFixed(2)}× of ${s.runs} interleaved runs (IQR ${s.q1.toFixed(2)}×–${s.q3.toFixed(2)}×)`,
        );
      }
    }
  } finally {
    pin.restore();
    server.stdin.end();
    await Promise.race([once(server, 'exit'), new Promise((r) => setTimeout(r, 10_000))]);
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
