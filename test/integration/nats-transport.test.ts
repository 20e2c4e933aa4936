/** The NATS transport passes the shared contract against a real nats-server. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.ts';
import { openTransport } from '../../src/transport/index.ts';
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
});
