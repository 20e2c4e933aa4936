/**
 * The serving process of the transport request/reply benchmark: `node bench/transport-responder.ts
 * NATS_URL` echoes requests on `bench.rr.raw` (raw nats.js) and on `bench.rr.keel` and `bench.rr.keel.async`
 * (Keel's NATS transport, a plain and an async handler, as a broker's are), each in a queue group, prints
 * "ready" once all serve, and stops when its parent closes stdin.
 */
import { once } from 'node:events';
import { connect } from '@nats-io/transport-node';
import { openTransport } from '../src/index.ts';

const [url] = process.argv.slice(2) as [string];
const nc = await connect({ servers: url.replace(/^nats:\/\//, '') });
const encoder = new TextEncoder();
nc.subscribe('bench.rr.raw', {
  queue: 'raw',
  callback: (error, msg) => {
    if (error) return;
    let answer: unknown;
    try {
      answer = msg.json();
    } catch {
      answer = { error: 'not JSON' };
    }
    msg.respond(encoder.encode(JSON.stringify(answer)));
  },
});
const keel = await openTransport(url);
const subscriptions = [
  keel.subscribe('bench.rr.keel', (payload) => payload, { queue: 'keel' }),
  keel.subscribe('bench.rr.keel.async', async (payload) => payload, { queue: 'keel' }),
];
await Promise.all([nc.flush(), ...subscriptions.map((s) => s.ready)]);
process.stdout.write('ready\n');
process.stdin.resume();
await once(process.stdin, 'end');
await keel.close({ timeoutMs: 1000 });
await nc.close();
