/**
 * A transport on a NATS cluster URL (`nats://h1,nats://h2,nats://h3`) over a real 3-node cluster: it
 * connects, requests reach a responder connected to another node, and when the node a client uses dies
 * the client moves to another and carries on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsCluster, startNatsCluster } from '../../scripts/engines.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { openTransport, type Transport } from '../../src/transport/index.ts';

let cluster: NatsCluster;
const open: Transport[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 });
}, 60_000);

afterAll(async () => {
  await Promise.all(open.map((t) => t.close({ timeoutMs: 1000 })));
  await cluster?.stop();
});

async function connect(url: string): Promise<Transport> {
  const transport = await openTransport(url, { connectTimeoutMs: 5000 });
  open.push(transport);
  return transport;
}

describe('a NATS transport on a cluster URL', () => {
  it('serves requests across nodes, and outlives the node it was using', async () => {
    const [a, b, c] = cluster.nodes;
    // The responder knows only node b; the caller is given the whole cluster.
    const responder = await connect(b?.url as string);
    const sub = responder.subscribe('cluster.echo', (payload) => ({ echoed: payload }), { queue: 'echo' });
    await sub.ready;
    const caller = await connect(cluster.url);
    await expect
      .poll(async () => caller.request('cluster.echo', 1, { timeoutMs: 500 }).catch(() => 'no'), {
        timeout: 5000,
      })
      .toEqual({ echoed: 1 });
    // Kill every node but b, one at a time: the caller must reach b through whichever node is left.
    await a?.kill();
    await c?.kill();
    const deadline = Date.now() + 10_000;
    let answer: unknown;
    while (Date.now() < deadline) {
      answer = await caller.request('cluster.echo', 2, { timeoutMs: 500 }).catch(() => undefined);
      if (answer !== undefined) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(answer).toEqual({ echoed: 2 });
    await a?.start();
    await c?.start();
  }, 60_000);

  it('refuses a cluster URL mixing schemes or holding a bad server, naming it', async () => {
    await expect(openTransport('nats://127.0.0.1:1,redis://127.0.0.1:2')).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(openTransport('nats://127.0.0.1:1,nats://')).rejects.toThrow(
      /A NATS transport URL is .*received "nats:\/\/"/,
    );
    await expect(openTransport('nats://127.0.0.1:1,nats://a b')).rejects.toThrow(/server 2/);
  });
});
