/**
 * The serving process of the remote broker benchmark: `node bench/broker-service.ts keel|moleculer|raw
 * NATS_URL [NAMESPACE]` serves math.add with that library over NATS, prints "ready" once it does, and
 * stops when its parent closes stdin.
 */
import { once } from 'node:events';
import { connect } from '@nats-io/transport-node';
import { ServiceBroker } from 'moleculer';
import { createBroker } from '../src/index.ts';
import { keelMath, moleculerMath, rawAnswer, rawSubject } from './broker-math.ts';

const [library, url, namespace = ''] = process.argv.slice(2) as [string, string, string?];
let stop: () => Promise<unknown>;
if (library === 'keel') {
  const broker = await createBroker({ transport: url, services: [keelMath] });
  stop = () => broker.stop({ timeoutMs: 1000 });
} else if (library === 'moleculer') {
  const broker = new ServiceBroker({
    namespace,
    transporter: { type: 'NATS', options: { url } },
    logger: false,
  });
  broker.createService(moleculerMath);
  await broker.start();
  stop = () => broker.stop();
} else if (library === 'raw') {
  const nc = await connect({ servers: url.replace(/^nats:\/\//, '') });
  const encoder = new TextEncoder();
  nc.subscribe(rawSubject, {
    queue: 'raw',
    callback: (error, msg) => {
      if (error) return;
      let answer: unknown;
      try {
        answer = rawAnswer(msg.json());
      } catch {
        answer = { ok: false, error: 'not JSON' };
      }
      msg.respond(encoder.encode(JSON.stringify(answer)));
    },
  });
  await nc.flush();
  stop = () => nc.close();
} else {
  throw new Error(`unknown library ${library}; expected keel, moleculer or raw`);
}
process.stdout.write('ready\n');
process.stdin.resume();
await once(process.stdin, 'end');
await stop();
