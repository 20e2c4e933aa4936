/** Events over SSE, over real sockets: framing, resume, the replay window, slow clients, heartbeats, cleanup. */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { listenLocal, openSse, type SseConnection, waitFor } from '../../test/gateway/http-client.ts';
import { type Broker, createBroker, defineContract } from '../broker/index.ts';
import { type EventsOptions, keelEvents } from './sse.ts';
import { formatComment, formatMessage, formatRetry } from './sse-frame.ts';

const shape = defineContract({
  name: 'shape',
  version: 1,
  events: {
    created: { payload: z.object({ id: z.string(), note: z.string().optional() }) },
    deleted: { payload: z.object({ id: z.string() }) },
  },
});
const keys = ['shape.created', 'shape.deleted'];

let app: FastifyInstance | undefined;
let broker: Broker<typeof shape> | undefined;
const open: SseConnection[] = [];

afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await app?.close();
  await broker?.stop();
  app = undefined;
  broker = undefined;
});

async function serve(
  options: Partial<EventsOptions> = {},
): Promise<{ base: string; broker: Broker<typeof shape>; app: FastifyInstance }> {
  broker = await createBroker({ transport: `memory://sse-${randomUUID().slice(0, 8)}`, contracts: [shape] });
  app = Fastify();
  await app.register(keelEvents, { broker, keys, ...options });
  return { base: await listenLocal(app), broker, app };
}

async function sse(base: string, path = '/api/events', headers: Record<string, string> = {}) {
  const c = await openSse(base, path, headers);
  open.push(c);
  return c;
}

describe('SSE frames', () => {
  it('event, id, one line of JSON data, retry; CR, LF and NUL refused in event and id', () => {
    expect(formatMessage({ event: 'shape.created', id: 'a-1', data: { note: 'two\nlines\r' } })).toBe(
      'event: shape.created\nid: a-1\ndata: {"note":"two\\nlines\\r"}\n\n',
    );
    expect(formatMessage({ data: 1, retry: 500 })).toBe('data: 1\nretry: 500\n\n');
    expect(formatRetry(2000)).toBe('retry: 2000\n\n');
    expect(formatComment('heartbeat')).toBe(': heartbeat\n\n');
    for (const bad of ['a\nevent: x', 'a\r', 'a\0']) {
      expect(() => formatMessage({ event: bad, data: 1 })).toThrow(
        /SSE event must be a string without CR, LF or NUL/,
      );
      expect(() => formatMessage({ id: bad, data: 1 })).toThrow(
        /SSE id must be a string without CR, LF or NUL/,
      );
    }
    expect(() => formatMessage({ data: undefined })).toThrow(/JSON-serializable/);
    expect(() => formatRetry(-1)).toThrow(/retry must be an integer/);
    expect(() => formatComment('a\nb')).toThrow(/one line/);
  });
});

describe('GET /api/events', () => {
  it('streams each broker event as a frame: retry hint first, id monotonic per gateway, event = the key, data = the payload', async () => {
    const { base, broker } = await serve({ retryMs: 1500 });
    const client = await sse(base);
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(client.headers['cache-control']).toBe('no-cache, no-transform');
    await broker.emit('shape.created', { id: 'a', note: 'line\nbreak' });
    await broker.broadcast('shape.deleted', { id: 'a' });
    await broker.emit('shape.created', { id: 'b' });
    const frames = await client.until('three events', (f) => f.filter((x) => x.data).length === 3);
    expect(frames[0]).toEqual({ retry: '1500' });
    const events = client.events();
    expect(events.map((e) => e.event)).toEqual(['shape.created', 'shape.deleted', 'shape.created']);
    expect(events.map((e) => JSON.parse(e.data as string))).toEqual([
      { id: 'a', note: 'line\nbreak' },
      { id: 'a' },
      { id: 'b' },
    ]);
    const ids = events.map((e) => e.id as string);
    const boot = ids[0]?.split('-')[0];
    // `<boot>-<n>-<ms>`: the gateway's run, the event's number in it, and when the gateway heard it.
    expect(ids.map((id) => id.split('-').slice(0, 2).join('-'))).toEqual([
      `${boot}-1`,
      `${boot}-2`,
      `${boot}-3`,
    ]);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-\d+-\d{13}$/);
  });

  it('?events= filters by key; an unknown key is a 400 with the error body', async () => {
    const { base, broker } = await serve();
    const deletedOnly = await sse(base, '/api/events?events=shape.deleted');
    const all = await sse(base);
    await broker.emit('shape.created', { id: 'a' });
    await broker.emit('shape.deleted', { id: 'a' });
    await all.until('both events', () => all.events().length === 2);
    await deletedOnly.until('the deleted event', () => deletedOnly.events().length === 1);
    expect(deletedOnly.events()[0]?.event).toBe('shape.deleted');
    const bad = await fetch(`${base}/api/events?events=shape.created,shape.exploded`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: {
        code: 'KEEL_GATEWAY_UNKNOWN_EVENT',
        message: 'Unknown event "shape.exploded" in ?events; known events: shape.created, shape.deleted',
      },
    });
  });

  it('Last-Event-ID resumes exactly after the last event seen, then goes live', async () => {
    const { base, broker } = await serve();
    const first = await sse(base);
    for (let i = 1; i <= 5; i++) await broker.emit('shape.created', { id: `s${i}` });
    await first.until('five events', () => first.events().length === 5);
    const seen = first.events()[4]?.id as string;
    first.close();
    for (let i = 6; i <= 8; i++) await broker.emit('shape.created', { id: `s${i}` });
    const again = await sse(base, '/api/events', { 'last-event-id': seen });
    await again.until('the three missed', () => again.events().length === 3);
    await broker.emit('shape.created', { id: 's9' });
    await again.until('the live one', () => again.events().length === 4);
    expect(again.events().map((e) => JSON.parse(e.data as string).id)).toEqual(['s6', 's7', 's8', 's9']);
    // Resuming from the newest event replays nothing.
    const current = await sse(base, '/api/events', { 'last-event-id': again.events()[3]?.id as string });
    await broker.emit('shape.deleted', { id: 's9' });
    await current.until('one live event', () => current.events().length === 1);
    expect(current.events()[0]?.event).toBe('shape.deleted');
  });

  it('a Last-Event-ID older than the replay window, or from another gateway, gets a reset event', async () => {
    const { base, broker } = await serve({ replayWindow: 3 });
    const first = await sse(base);
    await broker.emit('shape.created', { id: 's1' });
    await first.until('one event', () => first.events().length === 1);
    const old = first.events()[0]?.id as string;
    first.close();
    for (let i = 2; i <= 5; i++) await broker.emit('shape.created', { id: `s${i}` });
    const tooOld = await sse(base, '/api/events', { 'last-event-id': old });
    await tooOld.until('the reset', () => tooOld.events().length === 1);
    const reset = tooOld.events()[0];
    expect(reset?.event).toBe('reset');
    expect(reset?.id).toBeUndefined();
    expect(JSON.parse(reset?.data as string)).toMatchObject({ reason: 'too-old' });
    expect(JSON.parse(reset?.data as string).lastEventId).toMatch(
      new RegExp(`^${old.split('-')[0]}-5-\\d+$`),
    );
    // Within the window (the last 3 of 5: s3, s4, s5), resume from s2 works.
    const inWindow = await sse(base, '/api/events', { 'last-event-id': `${old.split('-')[0]}-2` });
    await inWindow.until('three replayed', () => inWindow.events().length === 3);
    expect(inWindow.events().map((e) => JSON.parse(e.data as string).id)).toEqual(['s3', 's4', 's5']);
    for (const foreign of ['0badc0de-3', 'garbage', `${old.split('-')[0]}-99`]) {
      const other = await sse(base, '/api/events', { 'last-event-id': foreign });
      await other.until('the reset', () => other.events().length === 1);
      expect(JSON.parse(other.events()[0]?.data as string).reason).toBe('unknown-id');
      other.close();
    }
  });

  it('a Last-Event-ID from another gateway (or from before a restart) replays what this one heard since its time', async () => {
    const { base, broker } = await serve({ replayWindow: 10 });
    const watcher = await sse(base);
    await broker.emit('shape.created', { id: 'before' });
    await watcher.until('one event', () => watcher.events().length === 1);
    watcher.close();
    // The client's last event came from another gateway, 5 s before the events this one then heard.
    const elsewhere = `0badc0de-41-${Date.now() - 5000}`;
    await broker.emit('shape.created', { id: 'missed-1' });
    await broker.emit('shape.deleted', { id: 'missed-2' });
    const resumed = await sse(base, '/api/events', { 'last-event-id': elsewhere });
    await resumed.until('three replayed', () => resumed.events().length === 3);
    expect(resumed.events().map((e) => JSON.parse(e.data as string).id)).toEqual([
      'before',
      'missed-1',
      'missed-2',
    ]);
    resumed.close();
    // One whose time is after everything heard gets nothing replayed, and no reset.
    const current = await sse(base, '/api/events', { 'last-event-id': `0badc0de-7-${Date.now() + 60_000}` });
    await broker.emit('shape.created', { id: 'live' });
    await current.until('one live event', () => current.events().length === 1);
    expect(JSON.parse(current.events()[0]?.data as string).id).toBe('live');
    current.close();
  });

  it('a client that stops reading is sent an overflow event and disconnected once its buffer is full', async () => {
    const { base, broker, app } = await serve({ bufferSize: 4 });
    const { port } = new URL(base);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /api/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await waitFor('the client registered', () => app.keelEvents?.clients === 1);
    socket.pause();
    const big = 'x'.repeat(64 * 1024);
    let sent = 0;
    // Far more than the socket buffers hold: the queue fills and the client is cut off.
    while (app.keelEvents?.clients === 1 && sent < 2000) {
      await broker.emit('shape.created', { id: String(sent++), note: big });
    }
    expect(app.keelEvents?.clients).toBe(0);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    const tail = text.slice(text.lastIndexOf('event: '));
    expect(tail).toMatch(
      /^event: overflow\ndata: \{"lastEventId":"[0-9a-f]{8}-\d+-\d+","bufferSize":4\}\n\n/,
    );
    const delivered = text.split('event: shape.created').length - 1;
    expect(delivered).toBeLessThan(sent);
    // The overflow names the last event delivered: resuming from it loses nothing the window holds.
    const last = JSON.parse(tail.split('data: ')[1]?.split('\n')[0] as string).lastEventId as string;
    expect(Number(last.split('-')[1])).toBe(delivered);
  });

  it('a client that reads nothing at all is cut off one heartbeat interval after its overflow', async () => {
    // A buffer large enough that it only fills once the kernel's socket buffers are full too.
    const { base, broker, app } = await serve({ bufferSize: 64, heartbeatMs: 300 });
    const { port } = new URL(base);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.pause();
    socket.write('GET /api/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await waitFor('the client registered', () => app.keelEvents?.clients === 1);
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; app.keelEvents?.clients === 1 && i < 2000; i++) {
      await broker.emit('shape.created', { id: String(i), note: big });
      // A turn of the loop between events, so the response writes what the kernel takes until it is full.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(app.keelEvents?.clients).toBe(0);
    const connections = () =>
      new Promise<number>((resolve, reject) =>
        app.server.getConnections((error, n) => (error ? reject(error) : resolve(n))),
      );
    expect(await connections()).toBe(1);
    const cut = Date.now();
    while ((await connections()) > 0) {
      if (Date.now() - cut > 5000) throw new Error('the stuck client was not cut off within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    socket.destroy();
  });

  it('sends a heartbeat comment every heartbeatMs to an idle client', async () => {
    const { base } = await serve({ heartbeatMs: 50 });
    const client = await sse(base);
    await client.until('two heartbeats', (f) => f.filter((x) => x.comment === 'heartbeat').length >= 2, 5000);
  });

  it('a disconnect removes the client and, with the last one, the heartbeat timer; close ends the observers', async () => {
    const started = new Set<unknown>();
    const realSet = globalThis.setInterval;
    const realClear = globalThis.clearInterval;
    vi.spyOn(globalThis, 'setInterval').mockImplementation(((fn: () => void, ms: number) => {
      const handle = realSet(fn, ms);
      started.add(handle);
      return handle;
    }) as typeof setInterval);
    vi.spyOn(globalThis, 'clearInterval').mockImplementation((handle) => {
      started.delete(handle);
      realClear(handle);
    });
    const { base, broker, app } = await serve({ heartbeatMs: 20 });
    const clients = await Promise.all([sse(base), sse(base), sse(base)]);
    await waitFor('three clients', () => app.keelEvents?.clients === 3);
    for (const c of clients) await c.until('a heartbeat', (f) => f.some((x) => x.comment === 'heartbeat'));
    expect(started.size).toBe(1);
    for (const c of clients) c.close();
    await waitFor('no client left', () => app.keelEvents?.clients === 0);
    expect(started.size).toBe(0);
    await broker.emit('shape.created', { id: 'before' });
    await waitFor('the hub heard it', () => app.keelEvents?.lastEventId !== undefined);
    const last = app.keelEvents?.lastEventId;
    await app.close();
    // The broker's observers ended with the server: nothing reaches the hub any more.
    await broker.emit('shape.created', { id: 'after' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(app.keelEvents?.lastEventId).toBe(last);
  });

  it('closing the server ends every stream with a closing event naming the last id the client got', async () => {
    const { base, broker, app } = await serve();
    const client = await sse(base);
    await broker.emit('shape.created', { id: 'a' });
    await client.until('one event', () => client.events().length === 1);
    const started = Date.now();
    await app.close();
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor('the stream ended', () => client.ended);
    const last = client.events().at(-1);
    expect(last?.event).toBe('closing');
    expect(JSON.parse(last?.data as string)).toEqual({ lastEventId: client.events()[0]?.id });
  });

  it('refuses bad options by name', async () => {
    broker = await createBroker({ transport: 'memory://', contracts: [shape] });
    const bad: [Partial<EventsOptions> & Record<string, unknown>, RegExp][] = [
      [{ keys: [] }, /keys must be a non-empty array/],
      [{ keys, bufferSize: 0 }, /bufferSize must be an integer ≥ 1/],
      [{ keys, heartbeatMs: 0 }, /heartbeatMs must be a number of milliseconds ≥ 1/],
      [{ keys, buffer: 3 }, /unknown option "buffer"; known options: keys, bufferSize/],
      [{ keys: ['shape.exploded'] }, /no contract known to this broker defines the event "shape.exploded"/],
    ];
    for (const [options, message] of bad) {
      const app = Fastify();
      await expect(app.register(keelEvents, { broker, ...options } as never).ready()).rejects.toThrow(
        message,
      );
      await app.close();
    }
  });
});
