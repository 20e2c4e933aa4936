/**
 * The stop race over a real nats-server: an instance stops (leaves its queue groups) while calls stream
 * in, some of them already on their way to it. None may be lost until the caller's deadline: each ends
 * promptly with a result or a retryable error, and idempotent calls, retried elsewhere, all succeed.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { type Broker, createBroker } from '../../src/broker/index.ts';
import { NoRespondersError } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';
import { faultsContract } from './fixtures/faults-contract.ts';
import { Instances } from './fixtures/instances.ts';

const url = engineUrl('KEEL_NATS_URL');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const instances = new Instances();
let caller: Broker | undefined;

afterEach(async () => {
  await caller?.stop({ timeoutMs: 2000 });
  caller = undefined;
  await instances.killAll();
});

it('an instance stopping while calls stream in: no call waits for its deadline; idempotent calls succeed elsewhere', async () => {
  const name = `faults-${randomUUID().slice(0, 8)}`;
  const contract = faultsContract(name);
  const [a, b] = await instances.start(url, name, ['stop-a', 'stop-b']);
  const broker = await createBroker({
    transport: url,
    contracts: [contract],
    retryBudget: { maxTokens: 200 },
  });
  caller = broker;
  const client = broker.client(contract);
  const timeoutMs = 10_000;
  const outcomes: { n: number; ms: number; node?: string; error?: unknown }[] = [];
  let running = true;
  let n = 0;
  const loop = async () => {
    while (running) {
      const i = n++;
      const start = Date.now();
      const call = i % 2 === 0 ? client.echo({ n: i }, { timeoutMs }) : client.write({ n: i }, { timeoutMs });
      try {
        const { node } = await call;
        outcomes.push({ n: i, ms: Date.now() - start, node });
      } catch (error) {
        outcomes.push({ n: i, ms: Date.now() - start, error });
      }
    }
  };
  // Many calls in flight at once, so some are on their way to the instance as it leaves.
  const loops = Array.from({ length: 40 }, loop);
  try {
    await sleep(500);
    // Busy for a moment first (calls pile up in its socket), then it stops, as a loaded instance would.
    a!.send({ block: 200, stop: 5000 });
    await a!.line((l) => l.stopped === 'stop-a', 'the stop to end', 15_000);
    await sleep(300);
    running = false;
    await Promise.all(loops);

    const slow = outcomes.filter((o) => o.ms >= 2000);
    expect(slow, 'calls that waited for their deadline').toEqual([]);
    const failed = outcomes.filter((o) => o.error !== undefined);
    for (const o of failed) {
      expect(o.n % 2, `idempotent call ${o.n} failed: ${String(o.error)}`).toBe(1);
      // Refused by the instance that was leaving, as if nobody served the action: retryable.
      expect(o.error).toBeInstanceOf(NoRespondersError);
      expect(o.error).toMatchObject({ retryable: true });
    }
    expect(outcomes.some((o) => o.node === 'stop-a')).toBe(true);
    expect(b!.exited).toBe(false);
    console.info(
      `stop under load: ${outcomes.length} calls, ${failed.length} failed retryably, slowest ${Math.max(...outcomes.map((o) => o.ms))} ms`,
    );
  } finally {
    running = false;
    await Promise.all(loops);
  }
}, 60_000);
