/**
 * Keel's NATS transport against the raw nats.js client over one nats-server (KEEL_NATS_URL, or one started
 * for the run), JSON both ways: messages per second from publisher to subscriber in one process; and
 * request/reply with 100 in flight to a responder in another process, in calls per second (elapsed time)
 * and in the caller's CPU time per call, against a hand-rolled floor.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Engine, startNats } from '../scripts/engines.ts';
import { openTransport, type Transport } from '../src/index.ts';
import { type Candidate, run, spread, target } from './harness.ts';
import { rawRequester, startReady } from './nats-floor.ts';

const payload = { id: 42, kind: 'circle', radius: 2.5, tags: ['red', 'large'] };

/** A candidate that publishes `n` messages and resolves when its subscriber has received all of them. */
function throughput(
  name: string,
  publish: (i: number) => void | Promise<void>,
): { candidate: Candidate; received: () => void } {
  let count = 0;
  let goal = 0;
  let done: (() => void) | undefined;
  return {
    received() {
      count++;
      if (count === goal) done?.();
    },
    candidate: {
      name,
      async run(n) {
        goal = count + n;
        const all = new Promise<void>((resolve) => {
          done = resolve;
        });
        for (let i = 0; i < n; i++) await publish(i);
        await all;
      },
    },
  };
}

export default async function (): Promise<void> {
  await publishing();
  await requestReply();
}

async function publishing(): Promise<void> {
  let engine: Engine | undefined;
  const url = process.env.KEEL_NATS_URL ?? (engine = await startNats()).url;
  const connections: NatsConnection[] = [];
  const transports: Transport[] = [];
  try {
    const servers = url.replace(/^nats:\/\//, '');
    const [rawPub, rawSub] = await Promise.all([connect({ servers }), connect({ servers })]);
    connections.push(rawPub, rawSub);
    const [keelPub, keelSub] = await Promise.all([openTransport(url), openTransport(url)]);
    transports.push(keelPub, keelSub);

    const encoder = new TextEncoder();
    const raw = throughput('nats.js', () => {
      rawPub.publish('bench.raw', encoder.encode(JSON.stringify(payload)));
    });
    rawSub.subscribe('bench.raw', {
      callback: (_error, msg) => {
        msg.json();
        raw.received();
      },
    });
    const keel = throughput('keel nats transport', () => keelPub.publish('bench.keel', payload));
    const subscription = keelSub.subscribe('bench.keel', () => keel.received());
    await Promise.all([rawSub.flush(), subscription.ready]);

    const results = await run({
      title: 'publish → subscriber, JSON payload, over one nats-server',
      unit: 'message',
      baseline: 'nats.js',
      subject: 'keel nats transport',
      rounds: 15,
      sampleMs: 200,
      candidates: [raw.candidate, keel.candidate],
    });
    for (const r of results)
      console.log(`- ${r.name}: ${Math.round(1e9 / r.medianNs).toLocaleString('en')} messages/s`);
    // Throughput ratio, round by round: Keel's messages per second over nats.js's (nats.js's time per
    // message over Keel's).
    target(
      'keel nats transport throughput vs nats.js',
      spread(results, 'nats.js', 'keel nats transport'),
      0.9,
      'at least',
    );
  } finally {
    await Promise.all(transports.map((t) => t.close()));
    await Promise.all(connections.map((c) => c.close()));
    await engine?.stop();
  }
}

/** Requests in flight at once in the request/reply case. */
const WINDOW = 100;
/** The budget of every request: Keel's default, and the floor's timer. */
const TIMEOUT_MS = 10_000;

/** Starts `bench/transport-responder.ts` and resolves once it serves. */
function startResponder(url: string): Promise<ChildProcess> {
  return startReady(join(import.meta.dirname, 'transport-responder.ts'), [url], 'the responder process');
}

/** `n` calls of `call`, at most WINDOW in flight. */
async function windowed(n: number, call: () => Promise<unknown>): Promise<void> {
  let sent = 0;
  const lane = async () => {
    while (sent < n) {
      sent++;
      await call();
    }
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, lane));
}

/** Request/reply, WINDOW in flight, responder in another process: Keel's request() against the floor. */
export async function requestReply(): Promise<void> {
  let engine: Engine | undefined;
  const url = process.env.KEEL_NATS_URL ?? (engine = await startNats()).url;
  let child: ChildProcess | undefined;
  let nc: NatsConnection | undefined;
  let keel: Transport | undefined;
  try {
    child = await startResponder(url);
    nc = await connect({ servers: url.replace(/^nats:\/\//, '') });
    keel = await openTransport(url);
    const transport = keel;
    const raw = rawRequester(nc, 'bench.rr.raw', TIMEOUT_MS);
    await nc.flush();
    const candidates: Candidate[] = [
      { name: 'raw nats.js', run: (n) => windowed(n, () => raw(payload)) },
      {
        name: 'keel request()',
        run: (n) => windowed(n, () => transport.request('bench.rr.keel', payload)),
      },
      {
        // Served by an async handler, as a broker's actions are.
        name: 'keel request(), async handler',
        run: (n) => windowed(n, () => transport.request('bench.rr.keel.async', payload)),
      },
      {
        // As the broker calls it: each call with a signal of its own.
        name: 'keel request() + signal',
        run: (n) =>
          windowed(n, () =>
            transport.request('bench.rr.keel', payload, { signal: new AbortController().signal }),
          ),
      },
    ];
    for (const clock of ['wall', 'cpu'] as const) {
      const results = await run({
        title: `request → reply, JSON payload, ${WINDOW} in flight, responder in another process`,
        unit: 'call',
        baseline: 'raw nats.js',
        subject: 'keel request()',
        // Three processes share the machine's cores here: more rounds than the publish case.
        rounds: 21,
        sampleMs: 200,
        clock,
        candidates,
      });
      if (clock === 'wall') {
        for (const r of results)
          console.log(`- ${r.name}: ${Math.round(1e9 / r.medianNs).toLocaleString('en')} calls/s`);
        target(
          `keel request() calls/s vs raw nats.js, ${WINDOW} in flight`,
          spread(results, 'raw nats.js', 'keel request()'),
          0.8,
          'at least',
        );
        target(
          `keel request() to an async handler calls/s vs raw nats.js, ${WINDOW} in flight`,
          spread(results, 'raw nats.js', 'keel request(), async handler'),
          0.8,
          'at least',
        );
        target(
          `keel request() + signal calls/s vs raw nats.js, ${WINDOW} in flight`,
          spread(results, 'raw nats.js', 'keel request() + signal'),
          0.8,
          'at least',
        );
      } else {
        for (const r of results)
          console.log(`- ${r.name}: ${(r.medianNs / 1e3).toFixed(2)} µs of caller CPU per call`);
      }
      console.log('');
    }
  } finally {
    await keel?.close({ timeoutMs: 1000 });
    await nc?.close();
    if (child !== undefined) {
      child.stdin?.end();
      const exited = once(child, 'exit');
      const bound = setTimeout(() => child?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(bound);
    }
    await engine?.stop();
  }
}
