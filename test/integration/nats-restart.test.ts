/**
 * Fault: nats-server restarts during a stream of requests. Clients reconnect by themselves, requests
 * succeed again within seconds, and those that failed in the gap failed with retryable KeelErrors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Engine, startNats } from '../../scripts/engines.ts';
import { KeelError } from '../../src/errors.ts';
import { openTransport, type Transport } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';

// The suite restarts its own server; the shared one must exist all the same, as for every integration test.
engineUrl('KEEL_NATS_URL');

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('nats transport across a server restart', () => {
  let engine: Engine | undefined;
  const transports: Transport[] = [];

  afterEach(async () => {
    await Promise.all(transports.splice(0).map((t) => t.close({ timeoutMs: 2000 })));
    await engine?.stop();
    engine = undefined;
  });

  it('reconnects after a crash and restart; requests in the gap fail retryable', async () => {
    engine = await startNats();
    const reported: KeelError[] = [];
    const onError = (error: KeelError) => reported.push(error);
    const responder = await openTransport(engine.url, { onError });
    const requester = await openTransport(engine.url, { onError });
    transports.push(responder, requester);
    await responder.subscribe<number>('keel.fault.echo', (n) => n + 1).ready;

    const outcomes: { at: number; ok: boolean; error?: unknown }[] = [];
    let running = true;
    let n = 0;
    const stream = (async () => {
      while (running) {
        const at = Date.now();
        try {
          expect(await requester.request('keel.fault.echo', n, { timeoutMs: 300 })).toBe(n + 1);
          outcomes.push({ at, ok: true });
        } catch (error) {
          outcomes.push({ at, ok: false, error });
        }
        n++;
        await sleep(10);
      }
    })();

    try {
      await sleep(200);
      expect(outcomes.length).toBeGreaterThan(0);
      expect(outcomes.every((o) => o.ok)).toBe(true);
      // A crash and a restart 600 ms later: longer than a request's timeout, so some requests must fail.
      const restartStarted = Date.now();
      await engine.kill();
      await sleep(600);
      await engine.start();
      const restarted = Date.now();
      // Keep the stream going until it has succeeded for a while after the restart, or give up at 10 s.
      while (Date.now() - restarted < 10_000) {
        const after = outcomes.filter((o) => o.at >= restarted);
        if (after.length >= 20 && after.slice(-20).every((o) => o.ok)) break;
        await sleep(50);
      }
      running = false;
      await stream;

      const failures = outcomes.filter((o) => !o.ok);
      expect(failures.length).toBeGreaterThan(0);
      const firstOkAfter = outcomes.find((o) => o.ok && o.at >= restartStarted);
      expect(firstOkAfter, 'a request succeeded after the restart').toBeDefined();
      expect(firstOkAfter!.at - restarted).toBeLessThan(5000);
      expect(outcomes.slice(-20).every((o) => o.ok)).toBe(true);
      for (const { error } of failures) {
        expect(error).toBeInstanceOf(KeelError);
        expect(error).toMatchObject({ retryable: true });
        expect([
          'KEEL_TRANSPORT_TIMEOUT',
          'KEEL_TRANSPORT_NO_RESPONDERS',
          'KEEL_TRANSPORT_CONNECTION',
        ]).toContain((error as KeelError).code);
      }
      // Both connections noticed the outage and said so once each.
      expect(reported.filter((e) => e.code === 'KEEL_TRANSPORT_CONNECTION')).toHaveLength(2);
    } finally {
      running = false;
      await stream;
    }
  });

  it('delivers published messages to a subscriber again after the restart', async () => {
    engine = await startNats();
    const onError = () => {};
    const subscriber = await openTransport(engine.url, { onError });
    const publisher = await openTransport(engine.url, { onError });
    transports.push(subscriber, publisher);
    const got: number[] = [];
    await subscriber.subscribe<number>('keel.fault.events', (n) => {
      got.push(n);
    }).ready;
    await publisher.publish('keel.fault.events', 1);
    await expect.poll(() => got).toEqual([1]);
    await engine.restart();
    // Publish until one arrives: the subscription is restored by the reconnect, not by the test.
    const deadline = Date.now() + 5000;
    let i = 2;
    while (got.length < 2) {
      if (Date.now() > deadline) throw new Error(`no message after the restart; received ${got.join(',')}`);
      await publisher.publish('keel.fault.events', i++);
      await sleep(100);
    }
    expect(got.length).toBeGreaterThan(1);
  });

  it('while the server is down: requests fail at once, retryable, naming the outage, and close() still ends', async () => {
    engine = await startNats();
    const reported: KeelError[] = [];
    const transport = await openTransport(engine.url, { onError: (error) => reported.push(error) });
    await engine.kill();
    await expect
      .poll(() => reported.map((e) => e.code), { timeout: 5000 })
      .toContain('KEEL_TRANSPORT_CONNECTION');
    // nats.js would drop a request sent now at its next reconnect attempt: it is refused instead, at once,
    // rather than left to wait for a reply that cannot come.
    const sent = Date.now();
    const error = await transport.request('keel.fault.down', 1, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(Date.now() - sent).toBeLessThan(5000);
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_CONNECTION', retryable: true });
    expect((error as Error).message).toContain('reconnecting');
    // A gathering too: refused at once, not an empty list at its timeout as if nobody served the subject.
    const gathered = Date.now();
    const many = await transport
      .requestMany('keel.fault.down', 1, { timeoutMs: 5000 })
      .catch((e: unknown) => e);
    expect(Date.now() - gathered).toBeLessThan(5000);
    expect(many).toMatchObject({ code: 'KEEL_TRANSPORT_CONNECTION', retryable: true });
    await transport.close({ timeoutMs: 1000 });
    expect(transport.closed).toBe(true);
  });
});
