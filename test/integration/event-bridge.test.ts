/** bridgeEvents against real nats-server and redis-server: the bridge suite on each engine. */
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { expect, it } from 'vitest';
import { EventBus } from '../../src/events/index.ts';
import { runEventBridgeSuite, until } from '../../src/transport/event-bridge.contract.ts';
import { bridgeEvents, EventBridgeMessageError, openTransport } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';

const natsUrl = engineUrl('KEEL_NATS_URL');
const redisUrl = engineUrl('KEEL_REDIS_URL');

runEventBridgeSuite('nats', { open: () => openTransport(natsUrl) });
runEventBridgeSuite('redis', { open: () => openTransport(redisUrl) });

it('over nats, publishes nothing on the reply subject a message names, whatever it is', async () => {
  const prefix = `keel.raw.${randomUUID().replaceAll('-', '')}`;
  const victim = `keel.victim.${randomUUID().replaceAll('-', '')}`;
  await using transport = await openTransport(natsUrl);
  const bus = new EventBus();
  const got: unknown[] = [];
  bus.on('*', (payload) => got.push(payload));
  const errors: unknown[] = [];
  await using bridge = bridgeEvents(bus, transport, { prefix, onError: (error) => errors.push(error) });
  await bridge.ready;
  // The bridge's connection answers a marker sent after the message: its answer reaches the sender
  // after anything that connection sent before, a reply to the message included.
  await transport.subscribe(`${victim}.marker`, () => transport.publish(`${victim}.marked`)).ready;
  // A plain NATS client, as anyone allowed to publish on the prefix has one.
  const nc = await connect({ servers: natsUrl });
  try {
    const onVictim: string[] = [];
    nc.subscribe(`${victim}.>`, {
      callback: (_, msg) => {
        onVictim.push(msg.subject);
      },
    });
    nc.subscribe(victim, {
      callback: (_, msg) => {
        onVictim.push(msg.subject);
      },
    });
    await nc.flush();
    const envelope = { v: 2, origin: 'raw-client', id: randomUUID(), topic: 'shape.created', payload: 1 };
    nc.publish(`${prefix}.shape.created`, JSON.stringify(envelope), { reply: victim });
    nc.publish(`${victim}.marker`);
    await until(
      () => onVictim.includes(`${victim}.marked`),
      () => `the marker's answer, got ${JSON.stringify(onVictim)}`,
    );
    expect(onVictim).toEqual([`${victim}.marker`, `${victim}.marked`]);
    expect(got).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(EventBridgeMessageError);
    expect(String(errors[0])).toMatch(/it is a request \(it carries a reply subject\)/);
  } finally {
    await nc.close();
  }
});
