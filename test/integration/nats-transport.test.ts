/** The NATS transport passes the shared contract against a real nats-server. */
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { connect, headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.ts';
import { type MessageMeta, openTransport } from '../../src/transport/index.ts';
import { runTransportContract } from '../../src/transport/transport.contract.ts';
import { engineUrl } from './engine-urls.ts';

const url = engineUrl('KEEL_NATS_URL');

runTransportContract('nats', { open: (options) => openTransport(url, options) });

describe('nats transport', () => {
  it('fails to open with a retryable TransportConnectionError when no server listens', async () => {
    const error = await openTransport('nats://127.0.0.1:1').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_CONNECTION', retryable: true });
    expect((error as Error).message).toContain('nats://127.0.0.1:1');
  });

  it('rejects a path in the URL', async () => {
    await expect(openTransport(`${url}/x`)).rejects.toThrow(/nats:\/\/\[user:pass@\]host\[:port\]/);
  });

  it('rejects a nats:// URL without a host instead of dialling localhost', async () => {
    for (const bad of ['nats://', 'nats://:4222', new URL('nats://')]) {
      const error = await openTransport(bad).catch((e: unknown) => e);
      expect(error, String(bad)).toBeInstanceOf(InvalidArgumentError);
    }
    await expect(openTransport('nats://')).rejects.toThrow(
      /nats:\/\/\[user:pass@\]host\[:port\]; received "nats:\/\/"/,
    );
  });

  it('connects under a connectTimeoutMs past 2^31-1 ms instead of failing at once', async () => {
    await using transport = await openTransport(url, { connectTimeoutMs: 2 ** 31 });
    await transport.subscribe<number>('keel.nats.long-connect', (n) => n * 2).ready;
    await expect(transport.request('keel.nats.long-connect', 21)).resolves.toBe(42);
  });

  it('still gives up at connectTimeoutMs when the server does not answer', async () => {
    // A listener that accepts the connection but never speaks NATS.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const error = await openTransport(`nats://127.0.0.1:${port}`, { connectTimeoutMs: 300 }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_CONNECTION', retryable: true });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('stops opening when the signal aborts', async () => {
    const reason = new Error('stop');
    await expect(openTransport(url, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it("rejects a payload over the server's max_payload as a bad argument, not a connection failure", async () => {
    await using transport = await openTransport(url);
    const big = 'x'.repeat(2 * 1024 * 1024);
    const published = await transport.publish('keel.nats.big', big).catch((e: unknown) => e);
    expect(published).toBeInstanceOf(InvalidArgumentError);
    expect(published).toMatchObject({ retryable: false });
    expect((published as Error).message).toMatch(/payload for "keel\.nats\.big" must be at most \d+ bytes/);
    const requested = await transport.request('keel.nats.big', big).catch((e: unknown) => e);
    expect(requested).toBeInstanceOf(InvalidArgumentError);
  });

  it("reads another NATS client's headers and budget; a request without a budget has no deadline", async () => {
    await using transport = await openTransport(url);
    const raw = await connect({ servers: url.replace('nats://', '') });
    try {
      const subject = 'keel.nats.foreign-headers';
      const metas: MessageMeta[] = [];
      await transport.subscribe(subject, (_p, meta) => {
        metas.push(meta);
        return 'ok';
      }).ready;
      const h = headers();
      h.append('X-Trace', 'one');
      h.append('X-Trace', 'two');
      h.append('keel-private', 'hidden');
      await raw.request(subject, new TextEncoder().encode('1'), { timeout: 5000, headers: h });
      const timed = headers();
      timed.append('keel-timeout', '4000');
      const before = Date.now();
      await raw.request(subject, new TextEncoder().encode('2'), { timeout: 5000, headers: timed });
      const after = Date.now();
      expect(metas[0]).toMatchObject({ isRequest: true, headers: { 'X-Trace': 'one' }, deadline: Infinity });
      expect(metas[0]?.signal?.aborted).toBe(false);
      expect(metas[1]?.headers).toEqual({});
      expect(metas[1]?.deadline).toBeGreaterThanOrEqual(before + 4000);
      expect(metas[1]?.deadline).toBeLessThanOrEqual(after + 4000);
    } finally {
      await raw.close();
    }
  });
});
