/**
 * A nats-server that grants a user only some subjects: a denied publish, subscribe or request fails
 * clearly (a non-retryable TransportPermissionError naming the subject), not silently or at a timeout.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, startNats } from '../../scripts/engines.ts';
import type { KeelError } from '../../src/errors.ts';
import { openTransport, type Transport, TransportPermissionError } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';

// The suite starts its own server; the shared one must exist all the same, as for every integration test.
engineUrl('KEEL_NATS_URL');

const config = `
authorization {
  users = [
    {
      user: limited, password: secret,
      permissions: {
        publish: { allow: ["allowed.>", "_INBOX.>"] },
        subscribe: { allow: ["allowed.>", "_INBOX.>"] }
      }
    }
    {
      user: noinbox, password: secret,
      permissions: { publish: { allow: ["allowed.>"] }, subscribe: { allow: ["allowed.>"] } }
    }
    { user: admin, password: secret }
  ]
}
`;

describe('nats transport under server permissions', () => {
  let dir = '';
  let engine: Engine | undefined;
  let limitedUrl = '';
  let adminUrl = '';
  let noInboxUrl = '';
  const transports: Transport[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keel-nats-permissions-'));
    const file = join(dir, 'nats.conf');
    writeFileSync(file, config);
    engine = await startNats({ args: ['-c', file] });
    limitedUrl = engine.url.replace('nats://', 'nats://limited:secret@');
    adminUrl = engine.url.replace('nats://', 'nats://admin:secret@');
    noInboxUrl = engine.url.replace('nats://', 'nats://noinbox:secret@');
  });

  afterAll(async () => {
    await Promise.all(transports.splice(0).map((t) => t.close({ timeoutMs: 2000 })));
    await engine?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(url: string) {
    const errors: { error: KeelError; subject: string }[] = [];
    const transport = await openTransport(url, {
      onError: (error, { subject }) => errors.push({ error, subject }),
    });
    transports.push(transport);
    return { transport, errors };
  }

  it('a denied subscription rejects `ready` with a non-retryable TransportPermissionError', async () => {
    const { transport, errors } = await open(limitedUrl);
    const sub = transport.subscribe('denied.events', () => {});
    const error = await sub.ready.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportPermissionError);
    expect(error).toMatchObject({
      code: 'KEEL_TRANSPORT_PERMISSION',
      retryable: false,
      operation: 'subscribe',
      subject: 'denied.events',
    });
    expect((error as Error).message).toContain('"denied.events"');
    // onError hears it once, as the same error, and no connection failure.
    await expect.poll(() => errors.length).toBe(1);
    expect(errors[0]).toEqual({ error, subject: 'denied.events' });
    // The connection is fine: an allowed subscription still works.
    await expect(transport.subscribe('allowed.events', () => {}).ready).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    sub();
  });

  it('a denied publish reaches onError as a TransportPermissionError naming the subject', async () => {
    const { transport, errors } = await open(limitedUrl);
    await transport.publish('denied.orders', { id: 1 });
    await expect.poll(() => errors.length, { timeout: 5000 }).toBe(1);
    expect(errors[0]?.subject).toBe('denied.orders');
    expect(errors[0]?.error).toBeInstanceOf(TransportPermissionError);
    expect(errors[0]?.error).toMatchObject({
      retryable: false,
      operation: 'publish',
      subject: 'denied.orders',
    });
    // Allowed traffic still flows.
    await expect(transport.publish('allowed.orders', { id: 2 })).resolves.toBeUndefined();
  });

  it('a denied request rejects at once with a TransportPermissionError, not at its timeout', async () => {
    const { transport, errors } = await open(limitedUrl);
    const { transport: admin } = await open(adminUrl);
    // Someone answers on the subject, so only the permission stands in the way.
    await admin.subscribe('denied.rpc', () => 'answer').ready;
    const error = await transport.request('denied.rpc', 1, { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportPermissionError);
    expect(error).toMatchObject({ retryable: false, operation: 'publish', subject: 'denied.rpc' });
    // The caller has the error; onError is not told a second time.
    expect(errors).toEqual([]);
    await admin.subscribe('allowed.rpc', () => 'answer').ready;
    await expect(transport.request('allowed.rpc', 1, { timeoutMs: 5000 })).resolves.toBe('answer');
  });

  it('without permission for its reply inbox, a request rejects at once with TransportPermissionError', async () => {
    const { transport, errors } = await open(noInboxUrl);
    const { transport: admin } = await open(adminUrl);
    await admin.subscribe('allowed.inbox', () => 'answer').ready;
    const error = await transport.request('allowed.inbox', 1, { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportPermissionError);
    expect(error).toMatchObject({ retryable: false, operation: 'subscribe' });
    expect((error as Error).message).toContain('_INBOX.');
    await expect(transport.request('allowed.inbox', 2, { timeoutMs: 20_000 })).rejects.toBe(error);
    expect(errors.map((e) => e.error)).toEqual([error]);
  });
});
