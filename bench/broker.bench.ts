/**
 * Calls per second through Keel's broker against Moleculer 0.15, in the same run: a local call (service and
 * caller in one process), one at a time and 100 in flight; a remote call over one nats-server to a service
 * in another process (one child process per library), 100 in flight, against a hand-rolled floor (raw
 * nats.js publish with a reply subject and a map of pending calls); and what tracing costs a local call.
 *
 * The local cases are timed in CPU time (`clock: 'cpu'`): a local call never waits on I/O or a timer, and
 * the machines these run on are shared, so elapsed time would mostly measure the neighbours. The remote
 * case waits on sockets and the other process, so it is timed in elapsed time.
 *
 * Moleculer runs with its defaults, but for `logger: false`: its logger prints each broker's start and
 * stop, nothing per call, so it costs the calls nothing and would only interleave with the tables.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ServiceBroker } from 'moleculer';
import { type Engine, startNats } from '../scripts/engines.ts';
import { createBroker } from '../src/index.ts';
import { type AddParams, keelMath, math, moleculerMath, rawSubject } from './broker-math.ts';
import { run, spread, target } from './harness.ts';
import { rawRequester, startReady } from './nats-floor.ts';

/** Calls in flight at once in the concurrent cases. */
const WINDOW = 100;
const params: AddParams = { a: 2, b: 3 };

function perSecond(results: readonly { name: string; medianNs: number }[]): void {
  for (const r of results)
    console.log(`- ${r.name}: ${Math.round(1e9 / r.medianNs).toLocaleString('en')} calls/s (median)`);
  console.log('');
}

export default async function (): Promise<void> {
  await local();
  await observability();
  await remote();
}

/**
 * What tracing costs a local call when no OpenTelemetry SDK is registered (the broker's default, `tracing:
 * true`, against `tracing: false`). Metrics have no switch to turn them off yet, so both brokers keep them.
 */
async function observability(): Promise<void> {
  const on = await createBroker({ transport: `memory://bench-on-${randomUUID()}`, services: [keelMath] });
  const off = await createBroker({
    transport: `memory://bench-off-${randomUUID()}`,
    services: [keelMath],
    tracing: false,
  });
  const onClient = on.client(math);
  const offClient = off.client(math);
  try {
    const sequential = await run({
      title: 'local call, one at a time: tracing on (no SDK registered) and off',
      unit: 'call',
      baseline: 'tracing off',
      rounds: 21,
      sampleMs: 100,
      clock: 'cpu',
      candidates: [
        {
          name: 'tracing off',
          run: async (n) => {
            for (let i = 0; i < n; i++) await offClient.add(params);
          },
        },
        {
          name: 'tracing on',
          run: async (n) => {
            for (let i = 0; i < n; i++) await onClient.add(params);
          },
        },
      ],
    });
    perSecond(sequential);
    target(
      'local sequential: time per call with tracing on vs off',
      spread(sequential, 'tracing on', 'tracing off'),
      1.1,
      'at most',
    );
    console.log('');

    const concurrent = await run({
      title: `local call, ${WINDOW} in flight: tracing on (no SDK registered) and off`,
      unit: 'call',
      baseline: 'tracing off',
      rounds: 21,
      sampleMs: 100,
      clock: 'cpu',
      candidates: [
        {
          name: 'tracing off',
          run: async (n) => {
            let sent = 0;
            const lane = async () => {
              while (sent < n) {
                sent++;
                await offClient.add(params);
              }
            };
            await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane));
          },
        },
        {
          name: 'tracing on',
          run: async (n) => {
            let sent = 0;
            const lane = async () => {
              while (sent < n) {
                sent++;
                await onClient.add(params);
              }
            };
            await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane));
          },
        },
      ],
    });
    perSecond(concurrent);
    target(
      `local ${WINDOW} in flight: time per call with tracing on vs off`,
      spread(concurrent, 'tracing on', 'tracing off'),
      1.1,
      'at most',
    );
    console.log('');
  } finally {
    await on.stop({ timeoutMs: 1000 });
    await off.stop({ timeoutMs: 1000 });
  }
}

/**
 * The least a local call can cost that keeps two promises every Keel call makes: it can be ended at its
 * deadline whatever the handler does (so the caller waits on a promise of its own, settled by the
 * handler's), and its latency is measured (two clock reads). No validation, breaker, metrics or context.
 */
function localFloor(): (params: AddParams) => Promise<number> {
  const add = async ({ a, b }: AddParams) => a + b;
  // The time spent, kept as a meter keeps it (a slot bumped per call).
  const spent = new Float64Array(1);
  return (p) => {
    const started = performance.now();
    return new Promise<number>((resolve, reject) => {
      add(p).then((sum) => {
        spent[0] = (spent[0] as number) + performance.now() - started;
        resolve(sum);
      }, reject);
    });
  };
}

/** Service and caller in one process: each library's local path, no transport. */
async function local(): Promise<void> {
  const keel = await createBroker({
    transport: `memory://bench-broker-${randomUUID()}`,
    services: [keelMath],
  });
  const keelClient = keel.client(math);
  const moleculer = new ServiceBroker({ logger: false });
  moleculer.createService(moleculerMath);
  await moleculer.start();
  const floorCall = localFloor();
  try {
    const sequential = await run({
      title: 'local call, one at a time (service and caller in one process)',
      unit: 'call',
      baseline: 'moleculer',
      subject: 'keel',
      rounds: 21,
      sampleMs: 100,
      clock: 'cpu',
      candidates: [
        {
          name: 'moleculer',
          run: async (n) => {
            for (let i = 0; i < n; i++) await moleculer.call('math.add', params);
          },
        },
        {
          name: 'keel',
          run: async (n) => {
            for (let i = 0; i < n; i++) await keelClient.add(params);
          },
        },
        {
          name: 'floor: own promise + 2 clock reads',
          run: async (n) => {
            for (let i = 0; i < n; i++) await floorCall(params);
          },
        },
      ],
    });
    perSecond(sequential);
    // Keel's calls per second over Moleculer's: Moleculer's time per call over Keel's, round by round.
    target(
      'local sequential: keel calls/s vs moleculer',
      spread(sequential, 'moleculer', 'keel'),
      2,
      'at least',
    );
    console.log('');

    const concurrent = await run({
      title: `local call, ${WINDOW} in flight (service and caller in one process)`,
      unit: 'call',
      baseline: 'moleculer',
      subject: 'keel',
      rounds: 21,
      sampleMs: 100,
      clock: 'cpu',
      candidates: [
        {
          name: 'moleculer',
          run: async (n) => {
            let sent = 0;
            const lane = async () => {
              while (sent < n) {
                sent++;
                await moleculer.call('math.add', params);
              }
            };
            await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane));
          },
        },
        {
          name: 'keel',
          run: async (n) => {
            let sent = 0;
            const lane = async () => {
              while (sent < n) {
                sent++;
                await keelClient.add(params);
              }
            };
            await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane));
          },
        },
        {
          name: 'floor: own promise + 2 clock reads',
          run: async (n) => {
            let sent = 0;
            const lane = async () => {
              while (sent < n) {
                sent++;
                await floorCall(params);
              }
            };
            await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane));
          },
        },
      ],
    });
    perSecond(concurrent);
    target(
      `local ${WINDOW} in flight: keel calls/s vs moleculer`,
      spread(concurrent, 'moleculer', 'keel'),
      2,
      'at least',
    );
    console.log('');
  } finally {
    await keel.stop({ timeoutMs: 1000 });
    await moleculer.stop();
  }
}

/** Starts `bench/broker-service.ts` for one library and resolves once it serves. */
function startService(library: string, url: string, namespace: string): Promise<ChildProcess> {
  const script = join(import.meta.dirname, 'broker-service.ts');
  return startReady(script, [library, url, namespace], `the ${library} service process`);
}

/** The floor's call of `math.add`: the sum, or the error the raw service answered with. */
function rawCaller(nc: NatsConnection, timeoutMs: number): (params: AddParams) => Promise<number> {
  return rawRequester<AddParams, number>(nc, rawSubject, timeoutMs, (reply) => {
    const answer = reply as { ok: boolean; result?: number; error?: string };
    if (answer.ok) return answer.result as number;
    throw new Error(answer.error);
  });
}

/** Caller here, service in a child process, over one nats-server. */
async function remote(): Promise<void> {
  const engine: Engine = await startNats();
  const url = engine.url;
  const namespace = `bench-${randomUUID().slice(0, 8)}`;
  const children: ChildProcess[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  try {
    for (const library of ['keel', 'moleculer', 'raw'])
      children.push(await startService(library, url, namespace));
    const keel = await createBroker({ transport: url, contracts: [math] });
    stops.push(() => keel.stop({ timeoutMs: 1000 }));
    const keelClient = keel.client(math);
    const moleculer = new ServiceBroker({
      namespace,
      transporter: { type: 'NATS', options: { url } },
      logger: false,
    });
    await moleculer.start();
    stops.push(() => moleculer.stop());
    await moleculer.waitForServices('math', 30_000);
    const nc = await connect({ servers: url.replace(/^nats:\/\//, '') });
    stops.push(() => nc.close());
    // The same budget as Keel's default deadline, so the floor, too, never waits forever.
    const rawCall = rawCaller(nc, 10_000);
    await nc.flush();

    const results = await run({
      title: `remote call over one nats-server, ${WINDOW} in flight (service in another process)`,
      unit: 'call',
      baseline: 'raw nats.js',
      subject: 'keel',
      rounds: 21,
      sampleMs: 200,
      candidates: [
        {
          name: 'raw nats.js',
          run: async (n) => {
            let sent = 0;
            const lane = async () => {
              while (sent < n) {
                sent++;
                await rawCall(params);
              }
            };
            await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane));
          },
        },
        {
          name: 'moleculer',
          run: async (n) => {
            let sent = 0;
            const lane = async () => {
              while (sent < n) {
                sent++;
                await moleculer.call('math.add', params);
              }
            };
            await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane));
          },
        },
        {
          name: 'keel',
          run: async (n) => {
            let sent = 0;
            const lane = async () => {
              while (sent < n) {
                sent++;
                await keelClient.add(params);
              }
            };
            await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane));
          },
        },
      ],
    });
    perSecond(results);
    target(
      `remote ${WINDOW} in flight: keel calls/s vs moleculer`,
      spread(results, 'moleculer', 'keel'),
      1.5,
      'at least',
    );
    target(
      `remote ${WINDOW} in flight: keel calls/s vs raw nats.js floor`,
      spread(results, 'raw nats.js', 'keel'),
      0.8,
      'at least',
    );
    console.log('');
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    for (const child of children) {
      child.stdin?.end();
      const exited = once(child, 'exit');
      const bound = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(bound);
    }
    await engine.stop();
  }
}
