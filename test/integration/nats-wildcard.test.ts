/** A subscriber to every subject (`>`) on NATS sees requests and messages, never the reply traffic. */
import { afterEach, expect, it } from 'vitest';
import { type Engine, startNats } from '../../scripts/engines.ts';
import { openTransport, type Transport } from '../../src/transport/index.ts';

let engine: Engine | undefined;
const transports: Transport[] = [];

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close({ timeoutMs: 2000 })));
  await engine?.stop();
  engine = undefined;
});

it('a ">" subscriber gets the request but not the replies that travel on inbox subjects', async () => {
  // A server of its own: a subscriber to everything on the shared one would hear other tests' traffic.
  engine = await startNats();
  const [audit, service, caller] = await Promise.all([1, 2, 3].map(() => openTransport(engine!.url)));
  transports.push(audit as Transport, service as Transport, caller as Transport);
  const seen: string[] = [];
  await audit!.subscribe('>', (_payload, meta) => {
    seen.push(meta.subject);
    return 'audit';
  }).ready;
  await service!.subscribe<number>('svc.add', async (n) => {
    // Answer after the audit subscriber, so the reply that wins is visible in what it saw.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return n + 1;
  }).ready;
  await caller!.request('svc.add', 1, { timeoutMs: 2000 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(seen).toEqual(['svc.add']);
});
