/** The Redis transport passes the shared contract (queue groups refused) against a real redis-server. */
import { describe, expect, it } from 'vitest';
import { openTransport } from '../../src/transport/index.ts';
import { runTransportContract } from '../../src/transport/transport.contract.ts';
import { engineUrl } from './engine-urls.ts';

const url = engineUrl('KEEL_REDIS_URL');

runTransportContract('redis', { open: (options) => openTransport(url, options), queueGroups: false });

describe('redis transport', () => {
  it('fails to open with a retryable TransportConnectionError when no server listens', async () => {
    const error = await openTransport('redis://127.0.0.1:1').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_CONNECTION', retryable: true });
    expect((error as Error).message).toContain('redis://127.0.0.1:1');
  });

  it('rejects a database that is not a number', async () => {
    await expect(openTransport(`${url}/x`)).rejects.toThrow(/redis:\/\/\[user:pass@\]host\[:port\]\[\/db\]/);
  });

  it('reports a message published by a client that does not speak Keel, and keeps delivering', async () => {
    const errors: string[] = [];
    await using a = await openTransport(url, { onError: (e) => errors.push(e.code) });
    await using b = await openTransport(url);
    const subject = `keel.redis.${crypto.randomUUID()}`;
    const got: unknown[] = [];
    await a.subscribe(subject, (p) => {
      got.push(p);
    }).ready;
    const { Redis } = await import('ioredis');
    const raw = new Redis(url);
    try {
      expect(await raw.publish(subject, 'plain text')).toBe(1);
    } finally {
      raw.disconnect();
    }
    await b.publish(subject, 'framed');
    await expect.poll(() => got).toEqual(['framed']);
    expect(errors).toEqual(['KEEL_TRANSPORT_DECODE']);
  });

  it('names its connections with the name option', async () => {
    const name = `keel-${crypto.randomUUID()}`;
    await using transport = await openTransport(url, { name });
    expect(transport.kind).toBe('redis');
    const { Redis } = await import('ioredis');
    const raw = new Redis(url);
    try {
      const clients = String(await raw.client('LIST'));
      expect(clients.split('\n').filter((line) => line.includes(`name=${name} `))).toHaveLength(2);
    } finally {
      raw.disconnect();
    }
  });

  it('listens for cancels on each answering subscription, and leaves no listener behind a refused one', async () => {
    await using transport = await openTransport(url);
    const subject = `keel.redis.${crypto.randomUUID()}`;
    const cancels = `_INBOX.keel-cancel.${subject}`;
    const { Redis } = await import('ioredis');
    const raw = new Redis(url);
    const listeners = async () => ((await raw.pubsub('NUMSUB', cancels)) as [string, number])[1];
    try {
      expect(() => transport.subscribe(subject, () => {}, { queue: 'workers' })).toThrow(/Queue groups/);
      expect(await listeners()).toBe(0);
      const sub = transport.subscribe(subject, () => {});
      await sub.ready;
      expect(await listeners()).toBe(1);
      // A listener that never answers requests needs no cancels.
      const quiet = transport.subscribe(`${subject}.quiet`, () => {}, { reply: false });
      await quiet.ready;
      expect(((await raw.pubsub('NUMSUB', `${cancels}.quiet`)) as [string, number])[1]).toBe(0);
      sub();
      quiet();
      await expect.poll(listeners).toBe(0);
    } finally {
      raw.disconnect();
    }
  });
});
