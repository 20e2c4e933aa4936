/** Fault: redis-server restarts; the Redis transport resubscribes by itself and answers requests again. */
import { afterEach, describe, expect, it } from 'vitest';
import { type Engine, startRedis } from '../../scripts/engines.ts';
import { KeelError } from '../../src/errors.ts';
import { openTransport, type Transport } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';

engineUrl('KEEL_REDIS_URL');

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('redis transport across a server restart', () => {
  let engine: Engine | undefined;
  const transports: Transport[] = [];

  afterEach(async () => {
    await Promise.all(transports.splice(0).map((t) => t.close({ timeoutMs: 2000 })));
    await engine?.stop();
    engine = undefined;
  });

  it('restores subscriptions and request/reply; failures in the gap are retryable', async () => {
    engine = await startRedis();
    const reported: KeelError[] = [];
    const onError = (error: KeelError) => reported.push(error);
    const responder = await openTransport(engine.url, { onError });
    const requester = await openTransport(engine.url, { onError });
    transports.push(responder, requester);
    const events: number[] = [];
    await responder.subscribe<number>('keel.fault.echo', (n) => n * 10).ready;
    await responder.subscribe<number>('keel.fault.events', (n) => {
      events.push(n);
    }).ready;
    expect(await requester.request('keel.fault.echo', 1)).toBe(10);

    await engine.restart();
    const failures: unknown[] = [];
    const deadline = Date.now() + 5000;
    let answered = false;
    while (!answered && Date.now() < deadline) {
      try {
        answered = (await requester.request('keel.fault.echo', 2, { timeoutMs: 300 })) === 20;
      } catch (error) {
        failures.push(error);
        await sleep(50);
      }
    }
    expect(answered, 'a request was answered within 5 s of the restart').toBe(true);
    for (const error of failures) expect(error).toMatchObject({ retryable: true });
    await requester.publish('keel.fault.events', 3);
    await expect.poll(() => events).toEqual([3]);
    expect(reported.some((e) => e.code === 'KEEL_TRANSPORT_CONNECTION')).toBe(true);
  });

  it('while the server is down: publish and request fail retryable, and close() still ends', async () => {
    engine = await startRedis();
    const transport = await openTransport(engine.url, { onError: () => {} });
    await engine.kill();
    const published = await transport.publish('keel.fault.down', 1).catch((e: unknown) => e);
    expect(published).toMatchObject({ code: 'KEEL_TRANSPORT_CONNECTION', retryable: true });
    const requested = await transport
      .request('keel.fault.down', 1, { timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(requested).toBeInstanceOf(KeelError);
    expect(requested).toMatchObject({ retryable: true });
    await transport.close({ timeoutMs: 1000 });
    expect(transport.closed).toBe(true);
  });
});
