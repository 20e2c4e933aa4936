/**
 * Messages per second through Keel's NATS transport against the raw nats.js client, in one process and
 * against one nats-server (KEEL_NATS_URL, or one started for the run). Both sides encode and decode JSON.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Engine, startNats } from '../scripts/engines.ts';
import { openTransport, type Transport } from '../src/index.ts';
import { type Candidate, run, spread, target } from './harness.ts';

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
