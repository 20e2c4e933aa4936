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

  it('a subscribe that failed while the server was down does not spoil the subject afterwards', async () => {
    engine = await startRedis();
    const subscriber = await openTransport(engine.url, { onError: () => {} });
    const publisher = await openTransport(engine.url, { onError: () => {} });
    transports.push(subscriber, publisher);
    await engine.kill();
    const failed = subscriber.subscribe('keel.fault.orders', () => {});
    await expect(failed.ready).rejects.toMatchObject({ code: 'KEEL_TRANSPORT_CONNECTION', retryable: true });
    await engine.start();
    const got: unknown[] = [];
    // The first tries may still meet the reconnecting client; a later one must reach Redis again.
    await expect
      .poll(
        async () => {
          const attempt = subscriber.subscribe('keel.fault.orders', (n) => {
            got.push(n);
          });
          return attempt.ready.then(
            () => true,
            () => {
              attempt();
              return false;
            },
          );
        },
        { timeout: 5000, interval: 200 },
      )
      .toBe(true);
    await publisher.publish('keel.fault.orders', 1);
    await expect.poll(() => got).toEqual([1]);
  });

  it('an open abandoned by its signal stops both clients instead of reconnecting forever', async () => {
    // A TCP server that accepts connections and never answers: the Redis handshake hangs.
    const { createServer } = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer((socket) => {
      socket.resume(); // read what the client sends, so its hang-up is seen
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as import('node:net').AddressInfo;
    try {
      const opened = openTransport(`redis://127.0.0.1:${port}`, { signal: AbortSignal.timeout(300) });
      await expect(opened).rejects.toMatchObject({ name: 'TimeoutError' });
      // Both clients hang up and do not dial again.
      await expect.poll(() => sockets.size, { timeout: 3000 }).toBe(0);
      await sleep(1500);
      expect(sockets.size).toBe(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
