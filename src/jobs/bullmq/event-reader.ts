/** Reads a queue's event stream with one blocking XREAD loop, handing on only the kinds of entry asked for. */
import type { Redis } from 'ioredis';
import { clearLongTimeout, setLongTimeout, settleWithin, unrefLongTimeout } from '../../abort.ts';
import { QueueConnectionError } from '../errors.ts';
import { ended, RELEASE_MS } from './redis-connection.ts';

/** One entry of the stream: its kind (the `event` field) and its fields as Redis sends them, flat. */
export type StreamEntry = (kind: string, fields: readonly string[]) => void;

export interface EventReaderSettings {
  /** A connection of the reader's own: a blocking read holds it; `close()` lets go of it. */
  readonly client: Redis;
  /** The stream's key: `<prefix>:<queue>:events`. */
  readonly key: string;
  /** The kinds handed on; every other entry is skipped before anything is built from it. */
  readonly kinds: ReadonlySet<string>;
  readonly deliver: StreamEntry;
  /** A failure of the read (reported, then the read goes on). */
  readonly error: (error: unknown) => void;
  /** Where the stream is, for messages: `queue "emails" at 127.0.0.1:6379`. */
  readonly where: string;
  /** How long Redis gets for the first read, which fixes the position the reader starts from. */
  readonly startTimeoutMs: number;
  /** How long a blocking read past its block time may go unanswered before it counts as stalled. */
  readonly stallMs: number;
}

/** How long one XREAD blocks in Redis when no entry comes. */
const BLOCK_MS = 5000;
/** The most entries one read brings: a burst is read in slices, so no reply grows without bound. */
const COUNT = 1000;
/**
 * The pause after a read that brought fewer than COUNT entries: a busy queue's entries then gather in Redis
 * and come in slices, instead of waking a blocked read (in Redis and here) for every few. An entry that
 * comes after a quiet spell is still handed on at once; one in a burst waits at most this long.
 */
const LINGER_MS = 20;
/** The pause after a read that failed (Redis away), before the next. */
const RETRY_MS = 1000;

/** The value of field `name` in a flat field list, or undefined. */
export function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * BullMQ's own `QueueEvents` turns every entry of the stream into an object and an event — about four per
 * job (added, waiting, active, completed) — whoever listens. This reader reads the same stream in slices of
 * at most COUNT entries, looks only at each entry's kind (the first field, in every entry BullMQ and Keel
 * write) and hands on the kinds asked for, as Redis sent them.
 */
export class EventReader {
  readonly #settings: EventReaderSettings;
  /** The id of the last entry read: the next read starts after it, across reconnects. */
  #last = '0-0';
  #closed = false;
  #loop: Promise<void> | undefined;
  #pause: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;

  constructor(settings: EventReaderSettings) {
    this.#settings = settings;
  }

  /**
   * Finds the stream's end and starts reading after it: every entry added once this resolves is heard.
   * Rejects with a retryable QueueConnectionError when Redis does not answer within `startTimeoutMs`, and
   * with the signal's reason when it aborts first.
   */
  async start(signal: AbortSignal): Promise<void> {
    const { client, key, startTimeoutMs, where } = this.#settings;
    const newest = client.xrevrange(key, '+', '-', 'COUNT', 1);
    newest.catch(() => {});
    if (!(await settleWithin(newest, startTimeoutMs, signal))) {
      signal.throwIfAborted();
      throw new QueueConnectionError(
        `The event stream of ${where} was not ready within ${startTimeoutMs} ms`,
      );
    }
    const [entry] = await newest;
    if (entry !== undefined) this.#last = entry[0];
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const { client, key, kinds, deliver, error } = this.#settings;
    while (!this.#closed) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.#read(
          client.xread('COUNT', COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', key, this.#last),
        )) as [string, [string, string[]][]][] | null;
      } catch (failure) {
        if (this.#closed) return;
        error(failure);
        await this.#sleep(RETRY_MS);
        continue;
      }
      if (this.#closed) return;
      const entries = reply?.[0]?.[1];
      if (entries === undefined || entries.length === 0) continue;
      this.#last = (entries[entries.length - 1] as [string, string[]])[0];
      for (const [, fields] of entries) {
        const kind = fields[0] === 'event' ? fields[1] : field(fields, 'event');
        if (kind === undefined || !kinds.has(kind)) continue;
        try {
          deliver(kind, fields);
        } catch (failure) {
          error(failure);
        }
      }
      if (entries.length < COUNT) await this.#sleep(LINGER_MS);
    }
  }

  /** A pause that close() cuts short. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#pause = setTimeout(resolve, ms);
    });
  }

  /**
   * Waits for one blocking read. Past its block time plus `stallMs` unanswered (Redis frozen, or a connection
   * that died without a word), the stall is reported once and the connection renewed; ioredis sends the read
   * again on the new one, from the same position, so nothing is skipped. The timer never holds the process.
   */
  async #read<T>(reading: Promise<T>): Promise<T> {
    const { client, stallMs, where, error } = this.#settings;
    // commandTimeoutMs may be longer than a platform timer holds.
    const timer = setLongTimeout(() => {
      if (this.#closed) return;
      error(
        new QueueConnectionError(
          `Redis did not answer a read of the event stream of ${where} within ${BLOCK_MS + stallMs} ms ` +
            `(connection ${client.status}); reconnecting, events are read on from where they stopped`,
        ),
      );
      client.disconnect(true);
    }, BLOCK_MS + stallMs);
    unrefLongTimeout(timer);
    try {
      return await reading;
    } finally {
      clearLongTimeout(timer);
    }
  }

  /** Stops reading and lets go of the connection within 2 × RELEASE_MS; the blocking read is cut off. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#pause);
    this.#wake?.();
    const { client } = this.#settings;
    // A blocked connection answers QUIT only after its read: drop it instead.
    client.disconnect();
    await settleWithin([this.#loop ?? Promise.resolve(), ended(client, RELEASE_MS)], 2 * RELEASE_MS);
  }
}
