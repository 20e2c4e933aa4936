/**
 * Refusals: a redis-server with ACL users and a password on the default user. A refusal no retry can cure
 * (NOPERM, WRONGPASS, NOAUTH, a malformed URL) is a non-retryable error that says what was refused, and
 * never echoes a password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, startRedis } from '../../scripts/engines.ts';
import { openTransport } from '../../src/transport/index.ts';
import { captureStderr, openResources, settledWithin, sleep } from './redis-probes.ts';

const password = 's3cret-pw';

describe('redis transport under ACL rules', { timeout: 30_000 }, () => {
  let engine: Engine;
  /** `redis://user:password@127.0.0.1:port` for one of the users below. */
  const as = (user: string, pass = password) =>
    `redis://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@127.0.0.1:${engine.port}`;

  beforeAll(async () => {
    engine = await startRedis();
    // Rules are set once the server is up: its readiness probe pings without a password.
    const { Redis } = await import('ioredis');
    const admin = new Redis(engine.url);
    try {
      const user = (name: string, ...rules: string[]) =>
        admin.acl('SETUSER', name, 'reset', 'on', `>${password}`, ...rules);
      // Every channel (the reply inbox is a pattern, which Redis matches literally against channel
      // rules), but no SUBSCRIBE: only pattern subscriptions.
      await user('keel', 'allchannels', '+@pubsub', '-subscribe', '+@connection');
      // Every channel, but no PUBLISH at all.
      await user('listener', 'allchannels', '+@pubsub', '-publish', '+@connection');
      // Channel rules that look right but cannot cover the per-connection reply inbox pattern.
      await user('noinbox', '&allowed.*', '&_KEEL_INBOX.*', '+@pubsub', '+@connection');
      await admin.config('SET', 'requirepass', password);
    } finally {
      admin.disconnect();
    }
  });
  afterAll(async () => {
    await engine?.stop();
  });

  it('a publish, subscribe or request the ACL denies fails with a non-retryable TransportPermissionError naming the subject and the command', async () => {
    const stderr = captureStderr();
    await using listener = await openTransport(as('listener'), { onError: () => {} });
    const published = await listener.publish('orders.created', 1).catch((e: unknown) => e);
    expect(published).toMatchObject({
      name: 'TransportPermissionError',
      code: 'KEEL_TRANSPORT_PERMISSION',
      retryable: false,
      subject: 'orders.created',
    });
    expect((published as Error).message).toMatch(/publish to "orders\.created": NOPERM .*'publish' command/);
    const requested = await listener.request('orders.get', 1, { timeoutMs: 3000 }).catch((e: unknown) => e);
    expect(requested).toMatchObject({ code: 'KEEL_TRANSPORT_PERMISSION', retryable: false });
    expect((requested as Error).message).toContain('"orders.get"');

    await using keel = await openTransport(as('keel'), { onError: () => {} });
    const subscription = keel.subscribe('orders.events', () => {});
    const refused = await subscription.ready.catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'KEEL_TRANSPORT_PERMISSION', retryable: false });
    expect((refused as Error).message).toMatch(/subscribe to "orders\.events": NOPERM .*'subscribe' command/);
    subscription();

    // What the ACL allows still works on the same transport: a pattern subscription, and publishing.
    const got: unknown[] = [];
    await keel.subscribe('orders.*', (payload) => {
      got.push(payload);
    }).ready;
    await keel.publish('orders.events', 'ok');
    await expect.poll(() => got).toEqual(['ok']);
    expect(stderr.text()).not.toContain('[ioredis]');
  });

  it('an open whose reply inbox the ACL denies fails with TransportPermissionError and leaves nothing open', async () => {
    const stderr = captureStderr();
    const before = openResources();
    const error = await openTransport(as('noinbox')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_PERMISSION', retryable: false });
    expect((error as Error).message).toMatch(/reply inbox "_KEEL_INBOX\..*NOPERM .*channels/);
    await sleep(100);
    expect(openResources().sockets).toBeLessThanOrEqual(before.sockets);
    expect(stderr.text()).not.toContain('[ioredis]');
  });

  it('a wrong password fails the open at once with a non-retryable TransportAuthError saying WRONGPASS', async () => {
    const stderr = captureStderr();
    const before = openResources();
    const wrong = 'not-the-password';
    // Well before connectTimeoutMs: a refusal is an answer, not something to wait out.
    const outcome = await settledWithin(openTransport(as('keel', wrong), { connectTimeoutMs: 20_000 }), 5000);
    expect(outcome, 'the open settled').not.toBe('pending');
    const { error } = outcome as { error: Error };
    expect(error).toMatchObject({
      name: 'TransportAuthError',
      code: 'KEEL_TRANSPORT_AUTH',
      retryable: false,
    });
    expect(error.message).toContain('WRONGPASS');
    expect(error.message).not.toContain(wrong);
    await sleep(1200); // the clients do not go on trying, and print nothing
    expect(openResources().sockets).toBeLessThanOrEqual(before.sockets);
    expect(stderr.text()).not.toContain('[ioredis]');
    expect(stderr.text()).not.toContain(wrong);
  });

  it('no password where the server requires one fails the open with a TransportAuthError saying NOAUTH', async () => {
    const stderr = captureStderr();
    const outcome = await settledWithin(
      openTransport(`redis://127.0.0.1:${engine.port}`, { connectTimeoutMs: 20_000 }),
      5000,
    );
    expect(outcome, 'the open settled').not.toBe('pending');
    const { error } = outcome as { error: Error };
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_AUTH', retryable: false });
    expect(error.message).toContain('NOAUTH');
    await sleep(200);
    expect(stderr.text()).not.toContain('[ioredis]');
  });

  it('a bad % escape in the URL credentials is an InvalidArgumentError that does not echo them', async () => {
    for (const bad of ['redis://us%zzer:pw@127.0.0.1:1', 'redis://user:p%zzword@127.0.0.1:1']) {
      const error = await openTransport(bad).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'InvalidArgumentError', code: 'KEEL_INVALID_ARGUMENT' });
      expect((error as Error).message).toMatch(/percent-encoding/);
      expect((error as Error).message).not.toMatch(/zz/);
    }
  });

  it('never shows the password of a URL it refuses', async () => {
    const error = await openTransport(`redis://keel:${password}@127.0.0.1:${engine.port}/x`).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'KEEL_INVALID_ARGUMENT' });
    expect((error as Error).message).not.toContain(password);
  });
});
