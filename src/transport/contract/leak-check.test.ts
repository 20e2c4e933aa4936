/** The contract's leak check catches what a transport leaves behind after close(), and nothing else. */
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { openTransport } from '../open-transport.ts';
import type { Transport } from '../transport.ts';
import { baselineResources, expectReleased } from './context.contract.ts';

/** A memory transport whose close() forgets a timer, as a driver that misses a clearTimeout would. */
async function leakyTransport(): Promise<{ transport: Transport; leaked: () => NodeJS.Timeout | undefined }> {
  const inner = await openTransport('memory://');
  let timer: NodeJS.Timeout | undefined;
  const transport = new Proxy(inner, {
    get(target, key, receiver) {
      if (key !== 'close') return Reflect.get(target, key, receiver);
      return async () => {
        timer = setTimeout(() => {}, 60_000);
        await target.close();
      };
    },
  });
  return { transport, leaked: () => timer };
}

describe('transport contract leak check', () => {
  it('passes for a transport that releases everything on close()', async () => {
    const before = await baselineResources();
    const transport = await openTransport('memory://');
    transport.subscribe('a', () => {});
    await transport.request('a', 1).catch(() => {});
    await transport.close();
    await expectReleased(before, 200);
  });

  it('catches a timer that a transport leaves running after close()', async () => {
    const before = await baselineResources();
    const { transport, leaked } = await leakyTransport();
    await transport.close();
    try {
      await expect(expectReleased(before, 200)).rejects.toThrow(/timers left running/);
    } finally {
      clearTimeout(leaked());
    }
    await expectReleased(before, 200);
  });

  it('catches a socket left open', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const before = await baselineResources();
    const { port } = server.address() as import('node:net').AddressInfo;
    const { connect } = await import('node:net');
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = connect(port, '127.0.0.1');
    const peer = await accepted;
    try {
      await expect(expectReleased(before, 200)).rejects.toThrow(/sockets left open/);
    } finally {
      client.destroy();
      peer.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
