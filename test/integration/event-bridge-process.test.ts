/** Events cross a real process boundary: this test's bus and a child process's bus, bridged over NATS. */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { EventBus } from '../../src/events/index.ts';
import { until } from '../../src/transport/event-bridge.contract.ts';
import { bridgeEvents, openTransport } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';

const url = engineUrl('KEEL_NATS_URL');

it('an event emitted here reaches a listener in another process, and its answer comes back once', async () => {
  const prefix = `keel.process.${randomUUID().replaceAll('-', '')}`;
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/event-peer.ts'), url, prefix], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  await using transport = await openTransport(url);
  const bus = new EventBus<{ 'shape.created': { id: number }; 'shape.seen': { id: number } }>();
  const got: { topic: string; payload: unknown }[] = [];
  bus.on('shape', (payload, topic) => got.push({ topic, payload }));
  await using bridge = bridgeEvents(bus, transport, { prefix });
  try {
    await bridge.ready;
    await until(
      () => out.includes('ready\n'),
      () => `the child to print ready, got ${JSON.stringify(out)}`,
      10_000,
    );
    bus.emit('shape.created', { id: 7 });
    await until(
      () => got.length === 2,
      () => `2 events here, got ${JSON.stringify(got)}`,
    );
    // A second event and its answer: by then, any echo or duplicate of the first would have arrived.
    bus.emit('shape.created', { id: 8 });
    await until(
      () => got.length >= 4,
      () => `4 events here, got ${JSON.stringify(got)}`,
    );
    expect(got).toEqual([
      { topic: 'shape.created', payload: { id: 7 } },
      { topic: 'shape.seen', payload: { id: 7 } },
      { topic: 'shape.created', payload: { id: 8 } },
      { topic: 'shape.seen', payload: { id: 8 } },
    ]);
    child.stdin.end();
    const [code] = await exited;
    expect(code).toBe(0);
    // The child's bus saw each remote event once, its own answers once, and no error.
    expect(out.trim().split('\n')).toEqual([
      'ready',
      JSON.stringify({ topic: 'shape.seen', payload: { id: 7 } }),
      JSON.stringify({ topic: 'shape.created', payload: { id: 7 } }),
      JSON.stringify({ topic: 'shape.seen', payload: { id: 8 } }),
      JSON.stringify({ topic: 'shape.created', payload: { id: 8 } }),
      'closed',
    ]);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
});
