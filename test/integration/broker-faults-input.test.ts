/**
 * Across processes over a real nats-server: a caller's abort reaches the remote handler's ctx.signal
 * quickly, and bad input in either direction (params the schema refuses, unknown actions, values JSON
 * cannot carry, payloads over max_payload) is a coded error at once, never a hang or a crash.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Broker, createBroker, UnknownActionError, ValidationError } from '../../src/broker/index.ts';
import { KeelError } from '../../src/errors.ts';
import { NoRespondersError } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';
import { faultsContract } from './fixtures/faults-contract.ts';
import { type Instance, Instances } from './fixtures/instances.ts';
import { settledWithin } from './redis-probes.ts';

const url = engineUrl('KEEL_NATS_URL');
const now = () => performance.timeOrigin + performance.now();

describe('broker calls to another process: aborts and bad input', () => {
  const instances = new Instances();
  const name = `faults-${randomUUID().slice(0, 8)}`;
  const contract = faultsContract(name);
  let instance: Instance;
  let caller: Broker<typeof contract>;

  beforeAll(async () => {
    [instance] = (await instances.start(url, name, ['input-a'])) as [Instance];
    caller = await createBroker({ transport: url, contracts: [contract] });
  }, 30_000);
  afterAll(async () => {
    await caller?.stop({ timeoutMs: 2000 });
    await instances.killAll();
  });

  /** What a call ends with; a call still pending after 10 s (of a 60 s budget) hangs, and fails the test. */
  async function outcome(call: Promise<unknown>): Promise<KeelError> {
    const settled = await settledWithin(call, 10_000);
    if (settled === 'pending') throw new Error('the call hangs');
    if ('value' in settled) throw new Error(`the call succeeded with ${JSON.stringify(settled.value)}`);
    expect(settled.error).toBeInstanceOf(KeelError);
    return settled.error as KeelError;
  }

  it("a caller's abort aborts the remote handler's ctx.signal within 50 ms", async () => {
    const client = caller.client(contract);
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const id = `abort-${i}`;
      const controller = new AbortController();
      const call = client.hold({ id }, { signal: controller.signal, timeoutMs: 30_000 });
      await instance.line((l) => l.holding === id, `the handler of ${id} to start`);
      const reason = new Error('the caller gave up');
      const abortedAt = now();
      controller.abort(reason);
      await expect(call).rejects.toBe(reason);
      const seen = await instance.line((l) => l.aborted === id, `the remote signal of ${id} to abort`);
      expect(seen.code).toBe('KEEL_TRANSPORT_CANCELLED');
      latencies.push((seen.at as number) - abortedAt);
    }
    console.info(`abort → remote ctx.signal, ms: ${latencies.map((ms) => ms.toFixed(1)).join(', ')}`);
    for (const ms of latencies) expect(ms).toBeLessThan(50);
  }, 30_000);

  it('params the schema refuses: ValidationError from the serving node, the handler never runs', async () => {
    const before = instance.lines.length;
    const error = await outcome(caller.client(contract).write({ n: 'one' } as never, { timeoutMs: 60_000 }));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'KEEL_BROKER_VALIDATION', target: 'params', nodeId: 'input-a' });
    expect(instance.lines.slice(before).filter((l) => 'started' in l)).toEqual([]);
  });

  it('unknown actions: UnknownActionError by name, NoRespondersError for a contract nobody serves', async () => {
    const unknown = await outcome(caller.call(`${name}.nothing` as never, null as never));
    expect(unknown).toBeInstanceOf(UnknownActionError);
    const nobody = faultsContract(`faults-${randomUUID().slice(0, 8)}`);
    const other = await createBroker({ transport: url, contracts: [nobody] });
    try {
      const none = await outcome(other.client(nobody).echo({ n: 1 }, { timeoutMs: 60_000 }));
      expect(none).toBeInstanceOf(NoRespondersError);
    } finally {
      await other.stop({ timeoutMs: 2000 });
    }
  });

  it('results JSON cannot carry (BigInt, a cycle): KEEL_TRANSPORT_ENCODE from the serving side', async () => {
    const client = caller.client(contract);
    for (const kind of ['bigint', 'cycle']) {
      const error = await outcome(client.shape({ kind }, { timeoutMs: 60_000 }));
      expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_ENCODE' });
    }
  });

  it('params JSON cannot carry (BigInt, a cycle): KEEL_TRANSPORT_ENCODE at the caller, nothing sent', async () => {
    const client = caller.client(contract);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const params of [{ n: 10n }, cycle]) {
      const error = await outcome(client.shape(params, { timeoutMs: 60_000 }));
      expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_ENCODE' });
    }
  });

  it('params over max_payload are refused at the caller; a result over it is KEEL_TRANSPORT_REPLY_TOO_LARGE', async () => {
    const client = caller.client(contract);
    // The server's default max_payload is 1 MiB.
    const big = 'x'.repeat(1024 * 1024 + 1);
    const sent = await outcome(client.shape(big, { timeoutMs: 60_000 }));
    expect(sent).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
    expect(sent.message).toMatch(/max_payload/);
    const replied = await outcome(
      client.shape({ bytes: 1024 * 1024 + 1 }, { timeoutMs: 60_000, retries: 0 }),
    );
    expect(replied).toMatchObject({ code: 'KEEL_TRANSPORT_REPLY_TOO_LARGE' });
  });

  it('after all of that the serving process is still up and serving', async () => {
    expect(instance.exited).toBe(false);
    await expect(caller.client(contract).echo({ n: 7 })).resolves.toEqual({ n: 7, node: 'input-a' });
  });
});
