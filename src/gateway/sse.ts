/**
 * Events over SSE (`GET /api/events`): the broker's events, each numbered once per gateway, kept in a
 * bounded replay window for `Last-Event-ID` resume, and sent to each client through a bounded buffer.
 *
 * Overflow policy: a client whose buffer holds `bufferSize` frames it has not read yet is sent a final
 * `overflow` event and disconnected, rather than letting memory grow; it reconnects with `Last-Event-ID`
 * and gets what it missed from the replay window (or a `reset` event when that is too old).
 */

import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { MAX_TIMER_MS } from '../abort.ts';
import type { Broker, EventObserver } from '../broker/index.ts';
import { checkCount, checkDuration, checkOptions, describe, InvalidArgumentError } from '../errors.ts';
import { formatComment, formatMessage, formatRetry } from './sse-frame.ts';

export interface EventsOptions {
  /** The broker event keys sent to clients (`shape.created`, …); each must be known to the broker. */
  readonly keys: readonly string[];
  /** How many frames may wait for a client that reads slowly before it is disconnected. @default 256 */
  readonly bufferSize?: number | undefined;
  /** How often a comment line goes to each idle client, in ms. @default 15000 */
  readonly heartbeatMs?: number | undefined;
  /** How many recent events are kept for `Last-Event-ID` resume. @default 1000 */
  readonly replayWindow?: number | undefined;
  /** The `retry:` hint: how long a client waits before reconnecting, in ms. @default 2000 */
  readonly retryMs?: number | undefined;
  /** The route. @default '/api/events' */
  readonly path?: string | undefined;
}

export interface EventsPluginOptions extends EventsOptions {
  /** Any broker: its contracts need only know the keys. */
  readonly broker: Broker<any>;
}

/** The keys `EventsOptions` accepts, for option checks elsewhere. */
export const eventsOptionKeys = [
  'keys',
  'bufferSize',
  'heartbeatMs',
  'replayWindow',
  'retryMs',
  'path',
] as const;

/** What the hub tells about itself (tests and metrics read it). */
export interface EventsStats {
  readonly clients: number;
  /** The id of the newest event, `<boot>-<n>`; `undefined` before the first. */
  readonly lastEventId: string | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The SSE hub's figures, when the events route is registered. */
    keelEvents?: EventsStats;
  }
}

interface Entry {
  readonly seq: number;
  readonly key: string;
  readonly id: string;
  /** When this gateway heard the event (ms since the epoch): where a resume from another gateway starts. */
  readonly at: number;
  readonly frame: string;
}

interface Settings {
  readonly keys: readonly string[];
  readonly bufferSize: number;
  readonly heartbeatMs: number;
  readonly replayWindow: number;
  readonly retryMs: number;
  readonly path: string;
}

/** `<boot>-<seq>-<ms>`: this gateway's run, the event's number in it, and when it heard it. */
const idPattern = /^([0-9a-f]{8})-(\d{1,15})(?:-(\d{1,15}))?$/;
/**
 * A resume from another gateway (or from before a restart) replays what this one heard since the client's
 * last event's time, less this margin for the moment events take to reach every gateway and for clocks
 * a little apart; a client may so see an event twice, never miss one the window holds.
 */
const foreignMarginMs = 1000;

/** Checks the options once; the defaults are applied here. */
export function eventsSettings(label: string, options: EventsOptions): Settings {
  checkOptions(label, options, eventsOptionKeys);
  const keys = options?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string')) {
    throw new InvalidArgumentError(
      `${label} keys must be a non-empty array of event keys; received ${describe(keys)}`,
    );
  }
  const path = options.path ?? '/api/events';
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidArgumentError(
      `${label} path must be a string starting with /; received ${describe(path)}`,
    );
  }
  return {
    keys: [...new Set(keys)],
    bufferSize: checkCount(`${label} bufferSize`, options.bufferSize ?? 256),
    heartbeatMs: checkDuration(`${label} heartbeatMs`, options.heartbeatMs ?? 15_000, {
      min: 1,
      max: MAX_TIMER_MS,
      allowInfinity: false,
    }),
    replayWindow: checkCount(`${label} replayWindow`, options.replayWindow ?? 1000),
    retryMs: checkCount(`${label} retryMs`, options.retryMs ?? 2000, { min: 0 }),
    path,
  };
}

/** One connected client: a Readable that Fastify pipes to the response, over a bounded queue of frames. */
class SseClient extends Readable {
  readonly keys: ReadonlySet<string> | undefined;
  readonly #bufferSize: number;
  readonly #lingerMs: number;
  /** Frames waiting for the client, with the id of the event each carries. */
  readonly #queue: { readonly frame: string; readonly id: string }[] = [];
  #wanted = false;
  #finished = false;
  /** The id of the newest event handed to the response (what the client will have read once it ends). */
  lastId: string | undefined;

  constructor(
    keys: ReadonlySet<string> | undefined,
    bufferSize: number,
    lingerMs: number,
    lastId: string | undefined,
  ) {
    super({ highWaterMark: 16 * 1024, encoding: 'utf8' });
    this.keys = keys;
    this.#bufferSize = bufferSize;
    this.#lingerMs = lingerMs;
    this.lastId = lastId;
  }

  override _read(): void {
    this.#wanted = true;
    while (this.#wanted && this.#queue.length > 0) {
      const next = this.#queue.shift() as { frame: string; id: string };
      this.#wanted = this.push(next.frame);
      this.lastId = next.id;
    }
  }

  get backlog(): number {
    return this.#queue.length;
  }

  /** Queues an event's frame; a full queue ends the stream with an `overflow` event. */
  send(entry: Entry, id: string): void {
    if (this.#finished) return;
    if (this.#wanted && this.#queue.length === 0) {
      this.#wanted = this.push(entry.frame);
      this.lastId = id;
    } else if (this.#queue.length < this.#bufferSize) this.#queue.push({ frame: entry.frame, id });
    else this.finish('overflow', { lastEventId: this.lastId ?? null, bufferSize: this.#bufferSize });
  }

  /** A replayed frame: pushed past the queue's bound, as the replay window already bounds it. */
  replay(entry: Entry, id: string): void {
    this.push(entry.frame);
    this.lastId = id;
  }

  /** A comment line, only when nothing waits (a client behind on reading needs no heartbeat). */
  heartbeat(): void {
    if (!this.#finished && this.#wanted && this.#queue.length === 0) {
      this.#wanted = this.push(formatComment('heartbeat'));
    }
  }

  /**
   * Drops what waits, sends one last control event, and ends the stream. A client that has not read to
   * that end within `lingerMs` (one heartbeat interval) is cut off, so one that never reads cannot hold
   * its connection.
   */
  finish(event: 'overflow' | 'closing', data: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#queue.length = 0;
    this.push(formatMessage({ event, data }));
    this.push(null);
    this.emit('finishing');
    const linger = setTimeout(() => this.destroy(), this.#lingerMs);
    this.once('close', () => clearTimeout(linger));
  }
}

/** Numbers the broker's events, keeps the replay window and fans frames out to the clients. */
class EventHub implements EventsStats {
  readonly #settings: Settings;
  /** Distinguishes this gateway's ids from another's (or a restarted one's): their numbers mean nothing here. */
  readonly #boot = randomBytes(4).toString('hex');
  readonly #ring: (Entry | undefined)[];
  readonly #clients = new Set<SseClient>();
  #seq = 0;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Set by closeAll: a stream opened afterwards (on a connection still open) ends at once. */
  #closing = false;

  constructor(settings: Settings) {
    this.#settings = settings;
    this.#ring = new Array(settings.replayWindow);
  }

  get clients(): number {
    return this.#clients.size;
  }

  get lastEventId(): string | undefined {
    return this.#seq === 0 ? undefined : this.#entry(this.#seq).id;
  }

  publish(key: string, payload: unknown): void {
    const seq = this.#seq + 1;
    const at = Date.now();
    const id = `${this.#boot}-${seq}-${at}`;
    const entry: Entry = { seq, key, id, at, frame: formatMessage({ event: key, id, data: payload }) };
    this.#seq = seq;
    this.#ring[seq % this.#ring.length] = entry;
    for (const client of this.#clients) {
      if (client.keys === undefined || client.keys.has(key)) client.send(entry, id);
    }
  }

  /**
   * Opens a client's stream: the retry hint, then what it missed since `lastEventId` (or a `reset`
   * event when the window no longer holds it), then live events — in one turn, so none is lost or doubled.
   */
  connect(keys: ReadonlySet<string> | undefined, lastEventId: string | undefined): SseClient {
    const { bufferSize, retryMs, heartbeatMs } = this.#settings;
    const client = new SseClient(keys, bufferSize, heartbeatMs, lastEventId);
    client.push(formatRetry(retryMs));
    if (lastEventId !== undefined) {
      const from = this.#resumeFrom(lastEventId);
      if (typeof from === 'string') {
        client.push(
          formatMessage({ event: 'reset', data: { reason: from, lastEventId: this.lastEventId ?? null } }),
        );
      } else {
        for (let seq = from; seq <= this.#seq; seq++) {
          const entry = this.#entry(seq);
          if (keys === undefined || keys.has(entry.key)) client.replay(entry, entry.id);
        }
      }
    }
    if (this.#closing) {
      client.finish('closing', { lastEventId: client.lastId ?? null });
      return client;
    }
    this.#clients.add(client);
    // A finished stream gets nothing more; it leaves the count when finished, not when its socket drains.
    client.once('finishing', () => this.#leave(client));
    client.once('close', () => this.#leave(client));
    if (this.#heartbeat === undefined) {
      this.#heartbeat = setInterval(() => {
        for (const c of this.#clients) c.heartbeat();
      }, heartbeatMs);
    }
    return client;
  }

  /** Ends every stream with a `closing` event (the gateway is stopping: reconnect elsewhere). */
  closeAll(): void {
    this.#closing = true;
    for (const client of this.#clients) client.finish('closing', { lastEventId: client.lastId ?? null });
  }

  /** Stops the heartbeat; streams still open are destroyed. */
  dispose(): void {
    for (const client of this.#clients) client.destroy();
    this.#clients.clear();
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #leave(client: SseClient): void {
    this.#clients.delete(client);
    if (this.#clients.size === 0 && this.#heartbeat !== undefined) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
  }

  /** The first sequence number to replay, or why resuming is impossible (`unknown-id`, `too-old`). */
  #resumeFrom(lastEventId: string): number | 'unknown-id' | 'too-old' {
    const match = idPattern.exec(lastEventId);
    if (match === null) return 'unknown-id';
    if (match[1] !== this.#boot) return this.#resumeByTime(match[3]);
    const seen = Number(match[2]);
    if (seen > this.#seq) return 'unknown-id';
    if (seen < this.#seq - this.#ring.length) return 'too-old';
    return seen + 1;
  }

  /** From another gateway's id: the first event heard since its time (less the margin), if the window reaches back that far. */
  #resumeByTime(time: string | undefined): number | 'unknown-id' | 'too-old' {
    if (time === undefined) return 'unknown-id';
    const since = Number(time) - foreignMarginMs;
    const oldest = Math.max(1, this.#seq - this.#ring.length + 1);
    // The window dropped events older than its oldest: if those may be newer than `since`, some are lost.
    if (oldest > 1 && this.#entry(oldest).at > since) return 'too-old';
    for (let seq = oldest; seq <= this.#seq; seq++) if (this.#entry(seq).at >= since) return seq;
    return this.#seq + 1;
  }

  #entry(seq: number): Entry {
    return this.#ring[seq % this.#ring.length] as Entry;
  }
}

/**
 * The SSE route as a Fastify plugin: `app.register(keelEvents, { broker, keys })`. Observes each key on
 * the broker (every gateway hears every event), ends every stream with a `closing` event when the server
 * starts closing, and stops observing when it has closed.
 */
export const keelEvents = fp(
  async (app: FastifyInstance, options: EventsPluginOptions) => {
    const { broker, ...rest } = options;
    const settings = eventsSettings('keelEvents options', rest);
    const hub = new EventHub(settings);
    const observers: EventObserver[] = [];
    try {
      for (const key of settings.keys) {
        observers.push(broker.on(key as never, (payload: unknown) => hub.publish(key, payload)));
      }
      await Promise.all(observers.map((o) => o.ready));
    } catch (error) {
      for (const end of observers) end();
      throw error;
    }
    const known = new Set(settings.keys);
    app.decorate('keelEvents', hub);
    app.addHook('preClose', async () => hub.closeAll());
    app.addHook('onClose', async () => {
      for (const end of observers) end();
      hub.dispose();
    });
    app.get(settings.path, (request: FastifyRequest, reply: FastifyReply) => {
      const query = request.query as Record<string, unknown> | undefined;
      let keys: Set<string> | undefined;
      const filter = query?.events;
      if (typeof filter === 'string' && filter !== '') {
        keys = new Set(filter.split(','));
        const unknown = [...keys].filter((k) => !known.has(k));
        if (unknown.length > 0) {
          return reply.code(400).send({
            error: {
              code: 'KEEL_GATEWAY_UNKNOWN_EVENT',
              message: `Unknown event ${unknown.map((k) => describe(k)).join(', ')} in ?events; known events: ${settings.keys.join(', ')}`,
            },
          });
        }
      }
      const header = request.headers['last-event-id'];
      const lastEventId = typeof header === 'string' && header !== '' ? header : undefined;
      reply
        .type('text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no')
        // One stream per connection: when it ends, so does the connection (nothing idles through a stop).
        .header('connection', 'close');
      return reply.send(hub.connect(keys, lastEventId));
    });
  },
  { fastify: '5.x', name: 'keel-events' },
);
