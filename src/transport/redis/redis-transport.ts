/**
 * The Redis Transport over ioredis pub/sub. Publish/subscribe and request/reply work; queue groups do
 * not, because Redis delivers every message to every subscriber (docs/transport.md).
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { onAbort, settleWithin } from '../../abort.ts';
import { describe, type KeelError } from '../../errors.ts';
import {
  BaseTransport,
  type Binding,
  type Incoming,
  type ReplyFrame,
  type ReplyOutcome,
  type ReplyWaiter,
} from '../base-transport.ts';
import { type MessageHeaders, requestHeaders } from '../headers.ts';
import { ReplyInbox } from '../reply-inbox.ts';
import { hasWildcard, subjectMatcher } from '../subject.ts';
import {
  messageOf,
  NoRespondersError,
  parseRemoteInfo,
  TransportConnectionError,
  TransportDecodeError,
  TransportUnsupportedError,
} from '../transport-errors.ts';
import type { ResolvedOptions } from '../transport-options.ts';
import { decodeFrame, encodeFrame, FrameKind } from './redis-frame.ts';
import { permissionDenial } from './redis-refusals.ts';

/**
 * The longest a publish waits for Redis to answer its PUBLISH: while the connection is down (the command
 * waits for a reconnect) or the server is frozen (it is sent and never answered). Then the publish rejects
 * with a retryable TransportConnectionError; docs/transport.md states this bound.
 */
export const PUBLISH_TIMEOUT_MS = 2000;

/**
 * A connection that has sent a command and received nothing for this long is treated as lost: ioredis drops
 * the socket and reconnects (and onError hears of the outage), instead of waiting on a frozen server forever.
 */
export const UNANSWERED_MS = 5000;

interface Local {
  readonly matches: (subject: string) => boolean;
  readonly deliver: (message: Incoming) => void;
}

/** One SUBSCRIBE or PSUBSCRIBE on the server, shared by every local subscription to the same subject. */
interface Channel {
  readonly locals: Set<Local>;
  readonly ready: Promise<void>;
}

/** Turns a subscription subject into a Redis glob; the local matcher then applies NATS token rules. */
function toGlob(subject: string): string {
  return subject
    .split('.')
    .map((token) => (token === '*' || token === '>' ? '*' : token.replace(/[\\?*[\]]/g, '\\$&')))
    .join('.');
}

export class RedisTransport extends BaseTransport {
  readonly kind = 'redis';
  /** The server address, without credentials. */
  readonly server: string;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #channels = new Map<string, Channel>();
  readonly #patterns = new Map<string, Channel>();
  readonly #replies = new ReplyInbox(`_KEEL_INBOX.${randomUUID()}`);
  #lost = false;
  #lastError: Error | undefined;

  constructor(cmd: Redis, sub: Redis, server: string, options: ResolvedOptions) {
    super(options);
    this.#cmd = cmd;
    this.#sub = sub;
    this.server = server;
    for (const client of [cmd, sub]) {
      client.on('error', (error: Error) => {
        this.#lastError = error;
      });
      client.on('reconnecting', () => this.#onConnectionLost());
      client.on('ready', () => {
        if (cmd.status === 'ready' && sub.status === 'ready') this.#lost = false;
      });
    }
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const subject = channel.toString();
      const entry = this.#channels.get(subject);
      if (entry) this.#receive(entry, subject, message);
    });
    sub.on('pmessageBuffer', (pattern: string, channel: Buffer, message: Buffer) => {
      const subject = channel.toString();
      if (pattern === `${this.#replies.prefix}.*`) this.#onReply(subject, message);
      else {
        const entry = this.#patterns.get(pattern);
        if (entry) this.#receive(entry, subject, message);
      }
    });
  }

  /** Subscribes to this connection's reply inbox; called once before the transport is handed out. */
  async listenForReplies(): Promise<void> {
    const inbox = `${this.#replies.prefix}.*`;
    try {
      await this.#sub.psubscribe(inbox);
    } catch (error) {
      throw this.#commandError('subscribe to its reply inbox', inbox, error);
    }
  }

  #onConnectionLost(): void {
    // ioredis announces every reconnect attempt; one report per outage is enough.
    if (this.#lost || this.closed) return;
    this.#lost = true;
    this.report(
      new TransportConnectionError(`Lost the connection to redis://${this.server}; reconnecting`, {
        cause: this.#lastError,
      }),
      this.server,
    );
  }

  #receive(entry: Channel, subject: string, bytes: Buffer): void {
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      this.report(new TransportDecodeError(subject, 'message', 'keel-redis-frame', error), subject);
      return;
    }
    // Replies travel on inbox channels; a wide wildcard subscription may see them, but they are not messages.
    if (frame.kind !== FrameKind.message && frame.kind !== FrameKind.request) return;
    const replyTo = frame.kind === FrameKind.request ? frame.replyTo : '';
    const message: Incoming = {
      subject,
      data: frame.body,
      headers: frame.headers,
      respond: replyTo ? (reply) => this.#respond(subject, replyTo, reply) : undefined,
      key: replyTo || undefined,
    };
    for (const local of entry.locals) if (local.matches(subject)) local.deliver(message);
  }

  #respond(subject: string, replyTo: string, reply: ReplyFrame): void {
    const frame = reply.ok
      ? encodeFrame(FrameKind.reply, reply.data)
      : encodeFrame(FrameKind.errorReply, new TextEncoder().encode(JSON.stringify(reply.error)));
    this.#cmd.publish(replyTo, frame).catch((error: unknown) => {
      this.report(this.#commandError('publish the reply to', replyTo, error), subject);
    });
  }

  #onReply(channel: string, bytes: Buffer): void {
    const pending = this.#replies.take(channel);
    if (pending === undefined) return; // timed out or aborted earlier
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      pending.fail(new TransportDecodeError(pending.subject, 'reply', 'keel-redis-frame', error));
      return;
    }
    if (frame.kind === FrameKind.errorReply) {
      pending.reply({ ok: false, error: parseRemoteInfo(new TextDecoder().decode(frame.body)) });
    } else pending.reply({ ok: true, data: frame.body });
  }

  /** Resolves once Redis answered the PUBLISH; rejects within PUBLISH_TIMEOUT_MS whatever the server does. */
  protected sendMessage(
    subject: string,
    data: Uint8Array,
    signal?: AbortSignal,
    headers?: MessageHeaders,
  ): Promise<void> {
    const command = this.#cmd.publish(subject, encodeFrame(FrameKind.message, data, '', headers));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        unwatch?.();
        if (error === undefined) resolve();
        else reject(error);
      };
      // PUBLISH_TIMEOUT_MS is far below 2^31-1 ms, so a plain timer is exact.
      const timer = setTimeout(() => {
        // An answer that came while the event loop was held up is read in this turn's poll phase, before
        // setImmediate runs: a busy process does not fail a publish that Redis did answer.
        setImmediate(() => {
          const state = this.connectionState();
          finish(
            new TransportConnectionError(
              `Cannot publish to ${describe(subject)} over redis://${this.server} (${state}): ` +
                `Redis did not answer within ${PUBLISH_TIMEOUT_MS} ms`,
              // While the connection is up, an error from an earlier outage would mislead.
              state === 'connected' ? {} : { cause: this.#lastError },
            ),
          );
        });
      }, PUBLISH_TIMEOUT_MS);
      // The base class has checked that the signal is not aborted yet.
      const unwatch = signal === undefined ? undefined : onAbort(signal, () => finish(signal.reason));
      command.then(
        () => finish(),
        (error: unknown) => finish(this.#commandError('publish to', subject, error)),
      );
    });
  }

  protected bind(subject: string, queue: string | undefined, deliver: (m: Incoming) => void): Binding {
    if (queue !== undefined) {
      throw new TransportUnsupportedError(
        `Queue groups (queue ${describe(queue)}) are not available over redis://: Redis pub/sub gives every ` +
          'message to every subscriber. Use a nats:// transport for load-balanced subscribers, or a ' +
          "JobQueue (openQueue('redis://...')) for work shared by competing workers.",
      );
    }
    const pattern = hasWildcard(subject);
    const key = pattern ? toGlob(subject) : subject;
    const table = pattern ? this.#patterns : this.#channels;
    let entry = table.get(key);
    if (entry === undefined) {
      const registering = pattern ? this.#sub.psubscribe(key) : this.#sub.subscribe(key);
      const created: Channel = {
        locals: new Set(),
        ready: registering.then(
          () => {},
          (error: unknown) => {
            // Redis never took this subscription: forget the entry, so the next subscribe asks again.
            if (table.get(key) === created) table.delete(key);
            throw this.#commandError('subscribe to', subject, error);
          },
        ),
      };
      entry = created;
      table.set(key, entry);
    }
    const local: Local = { matches: subjectMatcher(subject), deliver };
    entry.locals.add(local);
    const owner = entry;
    return {
      unsubscribe: () => {
        owner.locals.delete(local);
        if (owner.locals.size > 0 || table.get(key) !== owner) return;
        table.delete(key);
        const leaving = pattern ? this.#sub.punsubscribe(key) : this.#sub.unsubscribe(key);
        leaving.catch(() => {}); // a lost connection drops the subscription anyway
      },
      ready: entry.ready,
    };
  }

  protected sendRequest(
    subject: string,
    data: Uint8Array,
    waiter: ReplyWaiter,
    timeoutMs: number,
    headers: MessageHeaders | undefined,
  ): string {
    const { id, replyTo } = this.#replies.open(waiter);
    const frame = encodeFrame(FrameKind.request, data, replyTo, requestHeaders(headers, timeoutMs));
    this.#cmd.publish(subject, frame).then(
      (receivers) => {
        // PUBLISH answers how many subscribers got the message: none means nobody can reply.
        if (receivers === 0) this.#replies.fail(id, new NoRespondersError(subject));
      },
      (error: unknown) => {
        this.#replies.fail(id, this.#commandError('send a request to', subject, error));
      },
    );
    return replyTo;
  }

  protected sendGather(
    subject: string,
    data: Uint8Array,
    signal: AbortSignal,
    timeoutMs: number,
    headers: MessageHeaders | undefined,
    receive: (outcome: ReplyOutcome) => void,
  ): string {
    const { id, replyTo } = this.#replies.openMany(subject, signal, '', receive);
    const frame = encodeFrame(FrameKind.request, data, replyTo, requestHeaders(headers, timeoutMs));
    this.#cmd.publish(subject, frame).then(
      (receivers) => {
        if (receivers === 0) this.#replies.fail(id, new NoRespondersError(subject));
      },
      (error: unknown) => {
        this.#replies.fail(id, this.#commandError('send a request to', subject, error));
      },
    );
    return replyTo;
  }

  protected async shutdown(graceMs: number): Promise<void> {
    const ended = (client: Redis) =>
      client.status === 'end'
        ? Promise.resolve()
        : new Promise<void>((resolve) => client.once('end', resolve));
    const quit = (client: Redis) => {
      // QUIT lets the server answer what was sent before it; a connection that is down is just dropped.
      if (client.status === 'ready') {
        client.quit().catch(() => client.disconnect());
        return ended(client);
      }
      client.disconnect();
      // Between two reconnect attempts there is no socket left to close, and ioredis announces no 'end'.
      return client.status === 'reconnecting' ? Promise.resolve() : ended(client);
    };
    const done = await settleWithin([quit(this.#sub), quit(this.#cmd)], graceMs);
    if (!done) {
      // Past the grace: drop the connections, and return once their sockets are gone (ioredis destroys a
      // socket that has not closed within its disconnectTimeout of 500 ms), so close() leaves nothing behind.
      const dropping = [this.#sub, this.#cmd].map((client) => {
        const wasReconnecting = client.status === 'reconnecting';
        client.disconnect();
        return wasReconnecting ? Promise.resolve() : ended(client);
      });
      await settleWithin(dropping, 1000);
    }
  }

  protected connectionState(): string {
    const status = this.#cmd.status === 'ready' ? this.#sub.status : this.#cmd.status;
    return status === 'ready' ? 'connected' : status;
  }

  /** An ACL denial is final; anything else that fails a command is the connection's, and retryable. */
  #commandError(operation: string, subject: string, error: unknown): KeelError {
    return (
      permissionDenial(error, this.server, operation, subject) ??
      new TransportConnectionError(
        `Cannot ${operation} ${describe(subject)} over redis://${this.server} (${this.connectionState()}): ${messageOf(error)}`,
        { cause: error },
      )
    );
  }
}
