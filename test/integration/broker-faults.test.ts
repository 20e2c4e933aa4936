/**
 * Faults of the broker across processes over a real nats-server: an instance SIGKILLed under calls in
 * flight, and an instance whose event loop blocks. Each instance of the service is its own process
 * (fixtures/broker-instance.ts); the caller is this process.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type Broker, createBroker } from '../../src/broker/index.ts';
import { KeelError } from '../../src/errors.ts';
import { engineUrl } from './engine-urls.ts';
import { faultsContract } from './fixtures/faults-contract.ts';
import { Instances } from './fixtures/instances.ts';

const url = engineUrl('KEEL_NATS_URL');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('broker faults across processes', () => {
  const instances = new Instances();
  const brokers: Broker[] = [];

  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.stop({ timeoutMs: 2000 })));
    await instances.killAll();
  });

  it('one of two instances SIGKILLed under 100 calls in flight: idempotent calls all succeed, the others fail only retryably', async () => {
    const name = `faults-${randomUUID().slice(0, 8)}`;
    const contract = faultsContract(name);
    const [a, b] = await instances.start(url, name, ['kill-a', 'kill-b']);
    // Half the calls in flight may be on the instance that dies: the budget must cover a retry of each.
    const caller = await createBroker({
      transport: url,
      contracts: [contract],
      retryBudget: { maxTokens: 100 },
    });
    brokers.push(caller);
    const client = caller.client(contract);
    const options = { timeoutMs: 8000, attemptTimeoutMs: 1500 };
    let killedAt = 0;
    const calls = Array.from({ length: 100 }, (_, n) =>
      (n % 2 === 0 ? client.echo({ n, ms: 1000 }, options) : client.write({ n, ms: 1000 }, options)).then(
        (value) => ({ n, value, at: Date.now() - killedAt }),
        (error: unknown) => ({ n, error, at: Date.now() - killedAt }),
      ),
    );
    const started = () => [a!, b!].reduce((sum, i) => sum + i.lines.filter((l) => 'started' in l).length, 0);
    const deadline = Date.now() + 10_000;
    while (started() < 100) {
      if (Date.now() > deadline) throw new Error(`only ${started()} of 100 calls reached a handler`);
      await sleep(10);
    }
    const onA = new Set(a!.lines.filter((l) => 'started' in l).map((l) => l.started as number));
    killedAt = Date.now();
    await a!.kill();
    const outcomes = await Promise.all(calls);
    const saved = outcomes.filter((o) => o.n % 2 === 0 && onA.has(o.n));
    console.info(
      `SIGKILL: ${onA.size} calls were on the dead instance; its ${saved.length} idempotent ones were answered elsewhere by ${Math.max(...saved.map((o) => o.at))} ms after the kill`,
    );

    // The kill hit calls of both kinds.
    expect([...onA].some((n) => n % 2 === 0)).toBe(true);
    expect([...onA].some((n) => n % 2 === 1)).toBe(true);
    const idempotent = outcomes.filter((o) => o.n % 2 === 0);
    expect(idempotent.filter((o) => 'error' in o)).toEqual([]);
    for (const o of idempotent) {
      expect(o).toMatchObject({ value: { n: o.n } });
      // A call that was on the dead instance was answered by the other one.
      if (onA.has(o.n)) expect(o).toMatchObject({ value: { node: 'kill-b' } });
    }
    const others = outcomes.filter((o) => o.n % 2 === 1);
    const failed = others.filter((o) => 'error' in o);
    expect(failed.length).toBeGreaterThan(0);
    for (const o of failed) {
      expect(onA.has(o.n)).toBe(true);
      expect(o.error).toBeInstanceOf(KeelError);
      expect(o.error).toMatchObject({ retryable: true });
    }
    for (const o of others.filter((o) => !('error' in o))) expect(o).toMatchObject({ value: { n: o.n } });
  }, 40_000);

  it('an instance whose event loop blocks for 2 s: its tries end at their deadline, retries go to the other, and it serves again after', async () => {
    const name = `faults-${randomUUID().slice(0, 8)}`;
    const contract = faultsContract(name);
    const [a] = await instances.start(url, name, ['busy-a', 'busy-b']);
    const caller = await createBroker({
      transport: url,
      contracts: [contract],
      retryBudget: { maxTokens: 100 },
    });
    brokers.push(caller);
    const client = caller.client(contract);
    const attemptTimeoutMs = 300;
    const options = { timeoutMs: 5000, attemptTimeoutMs, retries: 10 };
    const outcomes: { start: number; end: number; node?: string; error?: unknown }[] = [];
    let running = true;
    let n = 0;
    const loop = async () => {
      while (running) {
        const start = Date.now();
        try {
          const { node } = await client.echo({ n: n++ }, options);
          outcomes.push({ start, end: Date.now(), node });
        } catch (error) {
          outcomes.push({ start, end: Date.now(), error });
        }
        await sleep(10);
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    try {
      await sleep(500);
      const blockStart = Date.now();
      a!.send({ block: 2000 });
      await a!.line((l) => l.blocked === 2000, 'the end of the block', 15_000);
      const blockEnd = Date.now();
      // Serving again: a call answered by the blocked instance after its block.
      const until = Date.now() + 10_000;
      while (!outcomes.some((o) => o.node === 'busy-a' && o.start > blockEnd)) {
        if (Date.now() > until) throw new Error('the blocked instance never served again');
        await sleep(20);
      }
      running = false;
      await Promise.all(loops);

      expect(outcomes.filter((o) => o.error !== undefined).map((o) => o.error)).toEqual([]);
      // While blocked it answered nothing: what ended then was served by the other instance.
      const during = outcomes.filter((o) => o.end > blockStart + 100 && o.end < blockEnd - 100);
      expect(during.length).toBeGreaterThan(0);
      expect(new Set(during.map((o) => o.node))).toEqual(new Set(['busy-b']));
      // Tries that reached the blocked instance ended at their own deadline, then went elsewhere.
      const slow = outcomes.filter((o) => o.end - o.start >= attemptTimeoutMs);
      expect(slow.length).toBeGreaterThan(0);
      expect(slow.some((o) => o.node === 'busy-b' && o.start >= blockStart && o.end <= blockEnd)).toBe(true);
      // Never dropped from the group: it served again, and its process is still up.
      expect(a!.exited).toBe(false);
      console.info(
        `blocked 2 s: ${outcomes.length} calls, ${during.length} answered during the block, slowest ${Math.max(...outcomes.map((o) => o.end - o.start))} ms`,
      );
    } finally {
      running = false;
      await Promise.all(loops);
    }
  }, 40_000);
});
