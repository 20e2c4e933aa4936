/**
 * bridgeEvents: an EventBus shared over a Transport, so an event emitted in one process reaches the
 * listeners of the same topics in every other process bridged to the same engine.
 */
import { onAbort } from '../abort.ts';
import { reportUnhandled } from '../diagnostics.ts';
import { checkFunction, checkOptions, checkSignal, describe, InvalidArgumentError } from '../errors.ts';
import { EventBus } from '../events/index.ts';
import { decodeEnvelope, type Envelope, encodeEnvelope } from './event-bridge-envelope.ts';
import { type BusLink, linkOf } from './event-bridge-link.ts';
import { checkPrefix, checkSerializer, checkTopics } from './event-bridge-options.ts';
import type { Serializer } from './serializer.ts';
import type { MessageMeta, Transport, TransportSubscription } from './transport.ts';
import { EventBridgeMessageError, TransportClosedError, TransportEncodeError } from './transport-errors.ts';

/** What `onError` learns about a failure besides the error itself. */
export interface EventBridgeErrorContext {
  /** `outgoing`: a local event could not be sent; `incoming`: a received message was not delivered. */
  readonly direction: 'outgoing' | 'incoming';
  /** The transport subject of the message. */
  readonly subject: string;
  /** The event's topic, when it is known. */
  readonly topic: string | undefined;
  /** The origin id of the bus that sent the event, when it is known. */
  readonly origin: string | undefined;
}

export interface EventBridgeOptions {
  /**
   * The subject prefix: the event `shape.created` travels on `<prefix>.shape.created`. Buses share
   * events only with bridges that use the same prefix on the same engine.
   * @default 'keel.events'
   */
  readonly prefix?: string | undefined;
  /**
   * The topics shared, both ways: each one with every topic below it (`'shape'` shares
   * `shape.created`). Other local events stay local, and other remote events are not received.
   * @default every topic
   */
  readonly topics?: readonly string[] | undefined;
  /**
   * How event payloads become bytes. Without one, the payload travels inside the envelope and the
   * transport's own serializer (JSON unless the transport was opened with another) encodes the whole
   * message once. With one, the payload is encoded by it and carried as base64 text, tagged with the
   * serializer's name; every bridge of a prefix must then use a serializer of that name.
   * @default undefined (the transport's serializer)
   */
  readonly serializer?: Serializer | undefined;
  /**
   * Receives the events that could not be sent (encoding, publishing) or delivered (a malformed message,
   * a payload that fails the topic's schema, a listener failure the bus throws under `collect` or
   * `fail-fast`).
   * @default reports the failure to `reportUnhandled` (the `keel:transport.unhandled` channel, then stderr)
   */
  readonly onError?: ((error: unknown, context: EventBridgeErrorContext) => void) | undefined;
  /** Aborting it closes the bridge. */
  readonly signal?: AbortSignal | undefined;
}

/** A running bridge. Closing it removes its bus listener and its transport subscriptions. */
export interface EventBridge extends Disposable, AsyncDisposable {
  /** The id that marks the events of this bridge's bus on the wire (shared by every bridge of the bus). */
  readonly origin: string;
  readonly prefix: string;
  /**
   * Resolves once the engine has registered the bridge's subscriptions: from then on, events emitted in
   * other processes reach this bus. Rejects with a TransportConnectionError if registering failed.
   */
  readonly ready: Promise<void>;
  /** Whether close() was called (or the signal aborted). */
  readonly closed: boolean;
  /**
   * Stops sharing: removes the bus listener (when no other bridge of the bus needs it) and the transport
   * subscriptions at once, then resolves when the events already handed to the transport are published.
   * Idempotent. `using` closes without waiting; `await using` waits.
   */
  close(): Promise<void>;
}

const knownOptions: readonly (keyof EventBridgeOptions)[] = [
  'prefix',
  'topics',
  'serializer',
  'onError',
  'signal',
];

const defaultOnError = (error: unknown, context: EventBridgeErrorContext): void =>
  reportUnhandled(
    'transport',
    `Event bridge could not ${context.direction === 'outgoing' ? 'send' : 'deliver'} ${
      context.topic === undefined ? `a message on "${context.subject}"` : `"${context.topic}"`
    }`,
    error,
  );

/**
 * Shares the events of `bus` over `transport`: each local emit (of a shared topic) is published on
 * `<prefix>.<topic>`, and each event another process publishes there is emitted on `bus`, where it
 * reaches the listeners of its topic, of its ancestors and of `"*"` as a local event would.
 *
 * An event is never sent back where it came from: a bus ignores the messages it sent itself, and an event
 * being delivered from the transport is not published again (by this bridge or another of the same bus).
 * A copy of one event that arrives twice (two bridges of one bus on the same engine) is delivered once.
 *
 * ```ts
 * await using transport = await openTransport('nats://localhost:4222');
 * const bus = new EventBus<{ 'shape.created': { id: number } }>();
 * await using bridge = bridgeEvents(bus, transport, { topics: ['shape'] });
 * await bridge.ready;
 * bus.emit('shape.created', { id: 7 }); // also reaches the `shape` listeners of every bridged process
 * ```
 */
export function bridgeEvents(
  bus: EventBus<any>,
  transport: Transport,
  options?: EventBridgeOptions,
): EventBridge {
  if (!(bus instanceof EventBus)) {
    throw new InvalidArgumentError(`bridgeEvents() bus must be an EventBus; received ${describe(bus)}`);
  }
  if (
    typeof transport !== 'object' ||
    transport === null ||
    typeof transport.publish !== 'function' ||
    typeof transport.subscribe !== 'function'
  ) {
    throw new InvalidArgumentError(
      `bridgeEvents() transport must be a Transport (from openTransport); received ${describe(transport)}`,
    );
  }
  checkOptions('bridgeEvents() options', options, knownOptions);
  return new Bridge(bus, transport, options ?? {});
}

class Bridge implements EventBridge {
  readonly origin: string;
  readonly prefix: string;
  readonly ready: Promise<void>;
  readonly #transport: Transport;
  readonly #link: BusLink;
  readonly #topics: readonly string[] | undefined;
  readonly #serializer: Serializer | undefined;
  readonly #onError: (error: unknown, context: EventBridgeErrorContext) => void;
  #unwatch: (() => void) | undefined;
  readonly #subscriptions: TransportSubscription[] = [];
  readonly #sending = new Set<Promise<void>>();
  #closing: Promise<void> | undefined;

  constructor(bus: EventBus<any>, transport: Transport, options: EventBridgeOptions) {
    const prefix = options.prefix ?? 'keel.events';
    checkPrefix(prefix);
    this.prefix = prefix;
    this.#topics = checkTopics(prefix, options.topics);
    this.#serializer = checkSerializer(options.serializer);
    if (options.onError !== undefined) checkFunction('bridgeEvents() onError', options.onError);
    this.#onError = options.onError ?? defaultOnError;
    checkSignal('bridgeEvents() signal', options.signal);
    this.#transport = transport;
    this.#link = linkOf(bus);
    this.origin = this.#link.origin;

    const signal = options.signal;
    if (signal?.aborted) {
      this.#closing = Promise.resolve();
      this.ready = Promise.resolve();
      return;
    }
    const receive = (envelope: unknown, meta: MessageMeta): void => this.#receive(envelope, meta);
    const subjects =
      this.#topics === undefined
        ? [`${prefix}.>`]
        : this.#topics.flatMap((topic) => [`${prefix}.${topic}`, `${prefix}.${topic}.>`]);
    try {
      // `reply: false`: a request on these subjects (anyone may send one, naming any reply subject) gets
      // no answer from the bridge, so the bridge can never be made to publish where a sender chooses.
      for (const subject of subjects) {
        this.#subscriptions.push(transport.subscribe(subject, receive, { reply: false }));
      }
    } catch (error) {
      for (const unsubscribe of this.#subscriptions) unsubscribe();
      throw error;
    }
    this.ready = Promise.all(this.#subscriptions.map((s) => s.ready)).then(() => {});
    // The transport reports a failed registration to its own onError; `ready` is for those who wait.
    this.ready.catch(() => {});
    this.#link.attach(this.#forward);
    if (signal !== undefined) this.#unwatch = onAbort(signal, () => void this.close());
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#unwatch?.();
      this.#link.detach(this.#forward);
      for (const unsubscribe of this.#subscriptions) unsubscribe();
      this.#subscriptions.length = 0;
      this.#closing = Promise.allSettled([...this.#sending]).then(() => {});
    }
    return this.#closing;
  }

  [Symbol.dispose](): void {
    void this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Called by the link for each local event, with its id, made once for all the bridges of the bus. */
  readonly #forward = (topic: string, payload: unknown, id: string): void => {
    if (!this.#shares(topic)) return;
    const subject = `${this.prefix}.${topic}`;
    const transport = this.#transport;
    if (transport.closed) {
      // Closed under the bridge: say so once, rather than once per event from now on.
      this.#report(new TransportClosedError('publish events'), 'outgoing', subject, topic);
      void this.close();
      return;
    }
    let envelope: Envelope;
    const serializer = this.#serializer;
    if (serializer === undefined) envelope = { origin: this.origin, id, topic, payload };
    else {
      let data: string;
      try {
        data = Buffer.from(serializer.encode(payload)).toString('base64');
      } catch (error) {
        this.#report(new TransportEncodeError(subject, serializer.name, error), 'outgoing', subject, topic);
        return;
      }
      envelope = { origin: this.origin, id, topic, codec: serializer.name, data };
    }
    let published: Promise<void>;
    try {
      published = transport.publish(subject, encodeEnvelope(envelope));
    } catch (error) {
      // A Transport of another make may throw instead of rejecting.
      this.#report(error, 'outgoing', subject, topic);
      return;
    }
    const sending = published.then(
      () => {
        this.#sending.delete(sending);
      },
      (error: unknown) => {
        this.#sending.delete(sending);
        this.#report(error, 'outgoing', subject, topic);
      },
    );
    this.#sending.add(sending);
  };

  #shares(topic: string): boolean {
    const topics = this.#topics;
    if (topics === undefined) return true;
    for (const shared of topics) {
      if (topic === shared || (topic.startsWith(shared) && topic.charCodeAt(shared.length) === 46)) {
        return true;
      }
    }
    return false;
  }

  #receive(value: unknown, { subject, isRequest }: MessageMeta): void {
    if (this.#closing !== undefined) return;
    if (isRequest) {
      // Events travel as plain messages; a request here comes from something else, and gets no answer.
      this.#reject(
        subject,
        undefined,
        undefined,
        'it is a request (it carries a reply subject); a bridge never answers requests',
      );
      return;
    }
    const decoded = decodeEnvelope(value);
    if (!decoded.ok) {
      this.#reject(subject, decoded.topic, decoded.origin, decoded.reason);
      return;
    }
    const { origin, id, topic, codec } = decoded.envelope;
    // The bus's own event, back from the engine (or from another of its bridges): already delivered here.
    if (origin === this.origin) return;
    if (subject !== `${this.prefix}.${topic}`) {
      this.#reject(subject, topic, origin, `its topic ${describe(topic)} does not match the subject`);
      return;
    }
    let payload: unknown;
    const serializer = this.#serializer;
    if (serializer === undefined) {
      if (codec !== undefined) {
        this.#reject(
          subject,
          topic,
          origin,
          `its payload is encoded with ${describe(codec)}, but this bridge has no serializer option`,
        );
        return;
      }
      payload = decoded.envelope.payload;
    } else {
      if (codec !== serializer.name) {
        const got = codec === undefined ? 'without a serializer' : `with ${describe(codec)}`;
        this.#reject(
          subject,
          topic,
          origin,
          `its payload is encoded ${got}; this bridge reads ${describe(serializer.name)}`,
        );
        return;
      }
      try {
        payload = serializer.decode(Buffer.from(decoded.envelope.data as string, 'base64'));
      } catch (error) {
        this.#reject(
          subject,
          topic,
          origin,
          `its payload does not decode with the ${serializer.name} serializer: ${(error as Error)?.message ?? describe(error)}`,
          error,
        );
        return;
      }
    }
    if (!this.#link.firstSight(origin, id)) return;
    try {
      this.#link.deliver(topic, payload);
    } catch (error) {
      this.#report(error, 'incoming', subject, topic, origin);
    }
  }

  #reject(
    subject: string,
    topic: string | undefined,
    origin: string | undefined,
    reason: string,
    cause?: unknown,
  ): void {
    const error = new EventBridgeMessageError(subject, reason, cause === undefined ? {} : { cause });
    this.#report(error, 'incoming', subject, topic, origin);
  }

  #report(
    error: unknown,
    direction: EventBridgeErrorContext['direction'],
    subject: string,
    topic: string | undefined,
    origin?: string,
  ): void {
    try {
      this.#onError(error, { direction, subject, topic, origin });
    } catch (handlerError) {
      // Neither failure may vanish, nor stop the delivery of the next message.
      reportUnhandled(
        'transport',
        'Event bridge onError threw',
        new AggregateError([handlerError, error], 'Event bridge onError threw'),
      );
    }
  }
}
