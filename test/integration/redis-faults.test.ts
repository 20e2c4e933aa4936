/**
 * Faults: a peer that takes the connection and never answers, a frozen redis-server (SIGSTOP), a killed
 * one (SIGKILL). Every open and every publish settles within its stated bound, with a retryable error,
 * and leaves nothing running; nothing of ioredis's own reaches stderr.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Engine, startRedis } from '../../scripts/engines.ts';
import type { UnhandledReport } from '../../src/diagnostics.ts';
import { openTransport, type Transport } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';
import { captureStderr, openResources, settledWithin, sleep } from './redis-probes.ts';

const url = engineUrl('KEEL_REDIS_URL');

/** The bound docs/transport.md states for a publish that Redis does not answer. */
const publishBoundMs = 2000;
/** What a loaded machine may add to a stated bound before the test calls it broken. */
const slackMs = 2500;

/** A TCP server that accepts connections and never says a word, as a frozen Redis or another service would. */
async function silentServer(): Promise<{ port: number; sockets: Set<Socket>; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    socket.resume(); // read what the client sends, so its hang-up is seen
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    port,
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Waits (up to 3 s) until this process holds no more sockets and timers than `before`. */
async function releasedTo(before: { sockets: number; timers: number }): Promise<void> {
  const deadline = Date.now() + 3000;
  let now = openResources();
  while ((now.sockets > before.sockets || now.timers > before.timers) && Date.now() < deadline) {
    await sleep(20);
    now = openResources();
  }
  expect(now.sockets, 'sockets left open').toBeLessThanOrEqual(before.sockets);
  expect(now.timers, 'timers left running').toBeLessThanOrEqual(before.timers);
}

function expectNoDriverNoise(stderr: string): void {
  expect(stderr).not.toContain('[ioredis]');
  expect(stderr).not.toContain('Unhandled error event');
}

// Fault tests wait through outages and bounds of several seconds.
describe('redis transport open: connectTimeoutMs bounds the whole open', { timeout: 30_000 }, () => {
  let engine: Engine | undefined;

  afterEach(async () => {
    if (engine?.running) process.kill(engine.pid, 'SIGCONT');
    await engine?.stop();
    engine = undefined;
  });

  it('rejects retryable within connectTimeoutMs when the peer accepts TCP and never answers, leaving no socket or timer', async () => {
    const stderr = captureStderr();
    const silent = await silentServer();
    try {
      const before = openResources();
      const started = Date.now();
      const outcome = await settledWithin(
        openTransport(`redis://127.0.0.1:${silent.port}`, { connectTimeoutMs: 500 }),
        500 + slackMs,
      );
      expect(outcome, 'the open settled').not.toBe('pending');
      expect(Date.now() - started).toBeLessThan(500 + slackMs);
      const { error } = outcome as { error: Error };
      expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_CONNECTION', retryable: true });
      expect(error.message).toContain(`redis://127.0.0.1:${silent.port}`);
      expect(error.message).toContain('within 500 ms');
      // Both clients hung up (the server's ends are counted here too), and nothing of the attempt is left.
      await releasedTo(before);
      expect(silent.sockets.size).toBe(0);
      await sleep(1200); // no reconnect attempt comes later
      expect(silent.sockets.size).toBe(0);
      expectNoDriverNoise(stderr.text());
    } finally {
      await silent.close();
    }
  });

  it('rejects retryable within connectTimeoutMs when redis-server is frozen (SIGSTOP)', async () => {
    const stderr = captureStderr();
    engine = await startRedis();
    process.kill(engine.pid, 'SIGSTOP');
    const before = openResources();
    const outcome = await settledWithin(openTransport(engine.url, { connectTimeoutMs: 500 }), 500 + slackMs);
    expect(outcome, 'the open settled').not.toBe('pending');
    expect((outcome as { error: unknown }).error).toMatchObject({
      code: 'KEEL_TRANSPORT_CONNECTION',
      retryable: true,
    });
    await releasedTo(before);
    expectNoDriverNoise(stderr.text());
  });

  it('takes a connectTimeoutMs past 2^31-1 ms without wrapping it into an instant timeout', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      await using a = await openTransport(url, { connectTimeoutMs: 2 ** 31 });
      await using b = await openTransport(url, { connectTimeoutMs: 2 ** 31 + 1000 });
      const subject = `keel.redis.long.${crypto.randomUUID()}`;
      const got: unknown[] = [];
      await b.subscribe(subject, (payload) => {
        got.push(payload);
      }).ready;
      await a.publish(subject, 'hello');
      await expect.poll(() => got).toEqual(['hello']);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain('TimeoutOverflowWarning');
  });
});

describe('redis transport publish: settles within the stated bound whatever the server does', {
  timeout: 30_000,
}, () => {
  let engine: Engine | undefined;
  const transports: Transport[] = [];

  afterEach(async () => {
    if (engine?.running) process.kill(engine.pid, 'SIGCONT');
    await Promise.all(transports.splice(0).map((t) => t.close({ timeoutMs: 2000 })));
    await engine?.stop();
    engine = undefined;
  });

  it('rejects retryable within the bound while the server is frozen (SIGSTOP), and publishes again once it resumes', async () => {
    const stderr = captureStderr();
    engine = await startRedis();
    const reported: { code: string; message: string }[] = [];
    const transport = await openTransport(engine.url, { onError: (error) => reported.push(error) });
    transports.push(transport);
    await transport.publish('keel.fault.frozen', 0);
    process.kill(engine.pid, 'SIGSTOP');
    for (let i = 1; i <= 2; i++) {
      const started = Date.now();
      const outcome = await settledWithin(
        transport.publish('keel.fault.frozen', i),
        publishBoundMs + slackMs,
      );
      expect(outcome, `publish ${i} settled`).not.toBe('pending');
      expect(Date.now() - started).toBeLessThan(publishBoundMs + slackMs);
      const { error } = outcome as { error: Error };
      expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_CONNECTION', retryable: true });
      expect(error.message).toMatch(/"keel\.fault\.frozen"/);
    }
    // Silent for 5 s after a command: the connection is declared lost, once, and re-opened.
    await expect
      .poll(() => reported.map((e) => e.code), { timeout: 5000 + slackMs })
      .toEqual(['KEEL_TRANSPORT_CONNECTION']);
    expect(reported[0]?.message).toMatch(/Lost the connection/);
    process.kill(engine.pid, 'SIGCONT');
    await expect
      .poll(
        () =>
          transport.publish('keel.fault.frozen', 3).then(
            () => true,
            () => false,
          ),
        {
          timeout: 10_000,
          interval: 200,
        },
      )
      .toBe(true);
    expectNoDriverNoise(stderr.text());
  });

  it('a subscription made while the server is frozen rejects its ready at connectTimeoutMs, retryable', async () => {
    engine = await startRedis();
    const transport = await openTransport(engine.url, { onError: () => {}, connectTimeoutMs: 800 });
    transports.push(transport);
    process.kill(engine.pid, 'SIGSTOP');
    const started = Date.now();
    const outcome = await settledWithin(transport.subscribe('keel.fault.late', () => {}).ready, 5000);
    expect(outcome, 'ready settled').not.toBe('pending');
    expect((outcome as { error: unknown }).error).toMatchObject({
      code: 'KEEL_TRANSPORT_CONNECTION',
      retryable: true,
    });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('close({ signal }) stops waiting as soon as the signal aborts, even with the server frozen', async () => {
    engine = await startRedis();
    const transport = await openTransport(engine.url, { onError: () => {} });
    process.kill(engine.pid, 'SIGSTOP');
    const controller = new AbortController();
    const reason = new Error('shutdown budget spent');
    setTimeout(() => controller.abort(reason), 200);
    const started = Date.now();
    const outcome = await settledWithin(transport.close({ signal: controller.signal }), 3000);
    expect(outcome, 'close settled').not.toBe('pending');
    expect((outcome as { error: unknown }).error).toBe(reason);
    // Before, the last step (quitting the connections) waited out its own grace of seconds.
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rejects retryable within the bound while the server is down, early and late in the outage', async () => {
    const stderr = captureStderr();
    engine = await startRedis();
    const transport = await openTransport(engine.url, { onError: () => {} });
    transports.push(transport);
    await engine.kill();
    // The reconnect backoff grows through the outage; a publish late in it must be bounded the same way.
    const outageStarted = Date.now();
    const durations: number[] = [];
    while (Date.now() - outageStarted < 7000) {
      const started = Date.now();
      const outcome = await settledWithin(transport.publish('keel.fault.down', 1), publishBoundMs + slackMs);
      durations.push(Date.now() - started);
      expect(outcome, 'the publish settled').not.toBe('pending');
      expect((outcome as { error: unknown }).error).toMatchObject({
        code: 'KEEL_TRANSPORT_CONNECTION',
        retryable: true,
      });
    }
    expect(Math.max(...durations)).toBeLessThan(publishBoundMs + slackMs);
    expectNoDriverNoise(stderr.text());
  });

  it('reports a lost connection through keel:transport.unhandled when no onError was given', async () => {
    const stderr = captureStderr();
    const reports: UnhandledReport[] = [];
    const onReport = (message: unknown) => reports.push(message as UnhandledReport);
    subscribe('keel:transport.unhandled', onReport);
    try {
      engine = await startRedis();
      const transport = await openTransport(engine.url);
      transports.push(transport);
      await engine.kill();
      await expect.poll(() => reports.length, { timeout: 5000 }).toBeGreaterThan(0);
      expect(reports[0]).toMatchObject({
        module: 'transport',
        error: { code: 'KEEL_TRANSPORT_CONNECTION', retryable: true },
      });
      expect(reports[0]?.context).toContain(engine.url);
      expect(stderr.text()).toContain('[keel transport]');
      expectNoDriverNoise(stderr.text());
    } finally {
      unsubscribe('keel:transport.unhandled', onReport);
    }
  });
});
