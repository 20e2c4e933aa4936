/**
 * The broker across a nats-server restart: an instance in its own process and a caller here both
 * reconnect by themselves, and calls succeed again within a second of the server being back.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { type Engine, startNats } from '../../scripts/engines.ts';
import { type Broker, createBroker } from '../../src/broker/index.ts';
import { KeelError } from '../../src/errors.ts';
import { openTransport, type Transport } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';
import { faultsContract } from './fixtures/faults-contract.ts';
import { Instances } from './fixtures/instances.ts';

// The test restarts its own server; the shared one must exist all the same, as for every integration test.
engineUrl('KEEL_NATS_URL');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const instances = new Instances();
let engine: Engine | undefined;
let caller: Broker | undefined;
let transport: Transport | undefined;

afterEach(async () => {
  await caller?.stop({ timeoutMs: 2000 });
  caller = undefined;
  await transport?.close({ timeoutMs: 2000 });
  transport = undefined;
  await instances.killAll();
  await engine?.stop();
  engine = undefined;
});

it('calls succeed again within 1 s of a restarted nats-server being back; those in the gap fail retryably', async () => {
  engine = await startNats();
  const name = `faults-${randomUUID().slice(0, 8)}`;
  const contract = faultsContract(name);
  await instances.start(engine.url, name, ['restart-a']);
  const reported: KeelError[] = [];
  transport = await openTransport(engine.url, { onError: (error) => reported.push(error) });
  const broker = await createBroker({ transport, contracts: [contract] });
  caller = broker;
  const client = broker.client(contract);
  const outcomes: { start: number; end: number; ok: boolean; error?: unknown }[] = [];
  let running = true;
  let n = 0;
  const loop = async () => {
    while (running) {
      const start = Date.now();
      try {
        await client.echo({ n: n++ }, { timeoutMs: 1000 });
        outcomes.push({ start, end: Date.now(), ok: true });
      } catch (error) {
        outcomes.push({ start, end: Date.now(), ok: false, error });
      }
      await sleep(10);
    }
  };
  const loops = Array.from({ length: 4 }, loop);
  try {
    await sleep(300);
    await engine.kill();
    const down = Date.now();
    await sleep(1000);
    await engine.start();
    const back = Date.now();
    await sleep(2500);
    running = false;
    await Promise.all(loops);

    expect(outcomes.filter((o) => o.end < down).every((o) => o.ok)).toBe(true);
    const firstOk = outcomes.find((o) => o.ok && o.end > back);
    expect(firstOk, 'a call succeeded after the restart').toBeDefined();
    console.info(`nats-server back → first call succeeded after ${firstOk!.end - back} ms`);
    expect(firstOk!.end - back).toBeLessThanOrEqual(1000);
    // From a second after the server is back, every call succeeds.
    const later = outcomes.filter((o) => o.start >= back + 1000);
    expect(later.length).toBeGreaterThan(0);
    expect(later.filter((o) => !o.ok).map((o) => o.error)).toEqual([]);
    // The caller's connection said once that it lost the server.
    expect(reported.filter((e) => e.code === 'KEEL_TRANSPORT_CONNECTION')).toHaveLength(1);
    const failures = outcomes.filter((o) => !o.ok);
    expect(failures.length).toBeGreaterThan(0);
    for (const { error } of failures) {
      expect(error).toBeInstanceOf(KeelError);
      expect(error).toMatchObject({ retryable: true });
    }
  } finally {
    running = false;
    await Promise.all(loops);
  }
}, 40_000);
