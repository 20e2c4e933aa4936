/**
 * A nats-server with a small max_payload: a reply larger than it reaches the requester at once as a
 * ReplyTooLargeError, and the responder's onError says the reply was too large (not that the handler failed).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, startNats } from '../../scripts/engines.ts';
import type { KeelError } from '../../src/errors.ts';
import { openTransport, ReplyTooLargeError, type Transport } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';

// The suite starts its own server; the shared one must exist all the same, as for every integration test.
engineUrl('KEEL_NATS_URL');

describe('nats transport with a small max_payload', () => {
  let dir = '';
  let engine: Engine | undefined;
  const transports: Transport[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keel-nats-payload-'));
    const file = join(dir, 'nats.conf');
    writeFileSync(file, 'max_payload: 1024\n');
    engine = await startNats({ args: ['-c', file] });
  });

  afterAll(async () => {
    await Promise.all(transports.splice(0).map((t) => t.close({ timeoutMs: 2000 })));
    await engine?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open() {
    const errors: { error: KeelError; subject: string }[] = [];
    const transport = await openTransport(engine!.url, {
      onError: (error, { subject }) => errors.push({ error, subject }),
    });
    transports.push(transport);
    return { transport, errors };
  }

  it('a reply over max_payload rejects the request at once with ReplyTooLargeError', async () => {
    const { transport: responder, errors: responderErrors } = await open();
    const { transport: requester, errors: requesterErrors } = await open();
    await responder.subscribe('keel.big.reply', () => 'x'.repeat(4096)).ready;
    await responder.subscribe('keel.small.reply', () => 'ok').ready;

    const error = await requester
      .request('keel.big.reply', 1, { timeoutMs: 20_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplyTooLargeError);
    expect(error).toMatchObject({
      code: 'KEEL_TRANSPORT_REPLY_TOO_LARGE',
      retryable: false,
      subject: 'keel.big.reply',
    });
    expect((error as Error).message).toMatch(/4098 bytes, over the server's max_payload of 1024 bytes/);

    // The responder is told what happened, with the same code, once.
    expect(responderErrors).toHaveLength(1);
    expect(responderErrors[0]?.subject).toBe('keel.big.reply');
    expect(responderErrors[0]?.error).toBeInstanceOf(ReplyTooLargeError);
    expect(responderErrors[0]?.error.code).not.toBe('KEEL_TRANSPORT_HANDLER');
    expect(requesterErrors).toEqual([]);

    // Both connections go on working.
    await expect(requester.request('keel.small.reply', 1, { timeoutMs: 5000 })).resolves.toBe('ok');
  });

  it('an error reply over max_payload also reaches the requester at once', async () => {
    const { transport: responder } = await open();
    const { transport: requester } = await open();
    await responder.subscribe('keel.big.failure', () => {
      throw new Error('y'.repeat(4096));
    }).ready;
    const error = await requester
      .request('keel.big.failure', 1, { timeoutMs: 20_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplyTooLargeError);
  });
});
