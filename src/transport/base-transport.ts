/**
 * What every Transport shares: argument checks, encoding, handler calls and replies, request deadlines,
 * and the draining close. An engine supplies only the primitives at the bottom of the class.
 */

import { clearLongTimeout, onAbort, setLongTimeout, settleWithin } from '../abort.ts';
import { reportUnhandled } from '../diagnostics.ts';
import { checkCount, checkFunction, checkOptions, checkSignal, describe, KeelError } from '../errors.ts';
import { subscription as eventsSubscription } from '../events/index.ts';
import { DeliveryLimit, defaultConcurrency, defaultMaxPending } from './delivery-limit.ts';
import type { Serializer } from './serializer.ts';
import { checkSubject } from './subject.ts';
import type {
  CloseOptions,
  Handler,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
  Transport,
  TransportErrorHandler,
  TransportSubscription,
} from './transport.ts';
import {
  NoRespondersError,
  type RemoteErrorInfo,
  RemoteHandlerError,
  ReplyTooLargeError,
  SubscriptionOverflowError,
  TransportClosedError,
  TransportDecodeError,
  TransportEncodeError,
  TransportHandlerError,
  TransportTimeoutError,
  toRemoteInfo,
} from './transport-errors.ts';
import { checkQueue, type ResolvedOptions } from './transport-options.ts';

/** A reply as it travels back: the encoded value, or the responder's error. */
export type ReplyFrame =
  | { readonly ok: true; readonly data: Uint8Array }
  | { readonly ok: false; readonly error: RemoteErrorInfo };

/** A message as an engine hands it over, before decoding. */
export interface Incoming {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Present when the sender awaits a reply; sends it (may throw when the connection is gone). */
  readonly respond?: ((reply: ReplyFrame) => void) | undefined;
}

/** An engine-level subscription. */
export interface Binding {
  unsubscribe(): void;
  readonly ready: Promise<void>;
}

/** What publish() returns when the engine took the message at once. */
const sent = Promise.resolve();

const publishKeys = ['signal'] as const;
const subscribeKeys = ['queue', 'signal', 'concurrency', 'maxPending'] as const;
const requestKeys = ['timeoutMs', 'signal'] as const;
const closeKeys = ['timeoutMs', 'signal'] as const;

export abstract class BaseTransport implements Transport {
  abstract readonly kind: string;
  protected readonly serializer: Serializer;
  protected readonly onError: TransportErrorHandler;
  #closing: Promise<void> | undefined;
  readonly #subscriptions = new Set<TransportSubscription>();
  readonly #handling = new Set<Promise<void>>();
  readonly #requests = new Map<Promise<unknown>, AbortController>();

  constructor(options: ResolvedOptions) {
    this.serializer = options.serializer;
    this.onError = options.onError;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  publish(subject: string, payload?: unknown, options?: PublishOptions): Promise<void> {
    // Not `async`: on the hot path a settled promise is returned without an extra turn of the queue.
    try {
      checkSubject('subject', subject, false);
      let signal: AbortSignal | undefined;
      if (options !== undefined) {
        checkOptions('Transport.publish() options', options, publishKeys);
        checkSignal('Transport.publish() signal', options.signal);
        signal = options.signal;
      }
      this.#checkOpen('publish');
      signal?.throwIfAborted();
      return this.sendMessage(subject, this.#encode(subject, payload), signal) ?? sent;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  subscribe<T = unknown>(
    subject: string,
    handler: Handler<T>,
    options: SubscribeOptions = {},
  ): TransportSubscription {
    checkSubject('subject', subject, true);
    checkFunction('Transport.subscribe() handler', handler);
    checkOptions('Transport.subscribe() options', options, subscribeKeys);
    checkQueue(options.queue);
    checkSignal('Transport.subscribe() signal', options.signal);
    const concurrency = checkCount(
      'Transport.subscribe() concurrency',
      options.concurrency ?? defaultConcurrency,
      {
        allowInfinity: true,
      },
    );
    const maxPending = checkCount(
      'Transport.subscribe() maxPending',
      options.maxPending ?? defaultMaxPending,
      {
        min: 0,
        allowInfinity: true,
      },
    );
    this.#checkOpen('subscribe');
    const { queue, signal } = options;
    let active = !signal?.aborted;
    let unwatch: (() => void) | undefined;
    const limit = new DeliveryLimit<Incoming>(
      concurrency,
      maxPending,
      (message) => this.#dispatch(handler as Handler, message),
      (message, firstOfBurst) => {
        const overflow = new SubscriptionOverflowError(subject, concurrency, maxPending);
        if (firstOfBurst) this.report(overflow, subject);
        // A requester learns at once, and may try another member of the group.
        if (message.respond)
          this.#reply(message.subject, message.respond, { ok: false, error: toRemoteInfo(overflow) });
      },
    );
    const binding: Binding = active
      ? this.bind(subject, queue, (message) => {
          if (active) limit.offer(message);
        })
      : { unsubscribe() {}, ready: Promise.resolve() };
    const end = eventsSubscription(() => {
      active = false;
      unwatch?.();
      this.#subscriptions.delete(subscription);
      binding.unsubscribe();
      // Messages still waiting for a turn are not handled; their requesters hear so now, not at a timeout.
      for (const message of limit.clear()) {
        if (message.respond) {
          const gone = toRemoteInfo(new NoRespondersError(message.subject));
          this.#reply(message.subject, message.respond, { ok: false, error: gone });
        }
      }
    });
    const subscription: TransportSubscription = Object.defineProperty(
      Object.assign(end, { subject, queue, ready: binding.ready }),
      'dropped',
      { enumerable: true, get: () => limit.dropped },
    ) as TransportSubscription;
    // A failed registration reaches onError even when nobody awaits `ready`.
    binding.ready.catch((error: unknown) => this.report(error, subject));
    if (active) {
      this.#subscriptions.add(subscription);
      if (signal !== undefined) unwatch = onAbort(signal, subscription);
    }
    return subscription;
  }

  async request<R = unknown>(subject: string, payload?: unknown, options: RequestOptions = {}): Promise<R> {
    checkSubject('subject', subject, false);
    checkOptions('Transport.request() options', options, requestKeys);
    const timeoutMs = checkCount('Transport.request() timeoutMs', options.timeoutMs ?? 5000);
    checkSignal('Transport.request() signal', options.signal);
    this.#checkOpen('request');
    const { signal } = options;
    signal?.throwIfAborted();
    const data = this.#encode(subject, payload);

    const control = new AbortController();
    // A long timer: a deadline past 2^31-1 ms must not fire after 1 ms as a plain setTimeout would.
    const timer = setLongTimeout(
      () => control.abort(new TransportTimeoutError(subject, timeoutMs, this.connectionState())),
      timeoutMs,
    );
    // Many requests may share one caller signal: they share its one listener too.
    const unwatch = signal === undefined ? undefined : onAbort(signal, () => control.abort(signal.reason));
    const pending = this.sendRequest(subject, data, control.signal);
    this.#requests.set(pending, control);
    try {
      const reply = await pending;
      if (!reply.ok) {
        if (reply.error.code === 'KEEL_TRANSPORT_REPLY_TOO_LARGE') {
          throw new ReplyTooLargeError(
            subject,
            `was too large to send; the responder said: ${reply.error.message}`,
          );
        }
        throw new RemoteHandlerError(subject, reply.error);
      }
      try {
        return this.serializer.decode(reply.data) as R;
      } catch (error) {
        throw new TransportDecodeError(subject, 'reply', this.serializer.name, error);
      }
    } finally {
      clearLongTimeout(timer);
      unwatch?.();
      this.#requests.delete(pending);
    }
  }

  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing === undefined) {
      try {
        checkOptions('Transport.close() options', options, closeKeys);
        checkSignal('Transport.close() signal', options.signal);
        const timeoutMs = checkCount('Transport.close() timeoutMs', options.timeoutMs ?? 10_000);
        this.#closing = this.#drain(timeoutMs, options.signal);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #drain(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // Requests still waiting get their replies first, with the subscriptions still in place: this very
    // transport may be the one that answers them.
    let settled = await settleWithin([...this.#requests.keys()], timeoutMs, signal);
    for (const unsubscribe of [...this.#subscriptions]) unsubscribe();
    // Handlers still running send their replies.
    const left = deadline - Date.now();
    if (settled && this.#handling.size > 0)
      settled = left > 0 && (await settleWithin([...this.#handling], left, signal));
    if (!settled) {
      for (const control of this.#requests.values()) {
        control.abort(new TransportClosedError('wait for a reply'));
      }
    }
    await this.shutdown(signal?.aborted ? 1 : Math.max(deadline - Date.now(), 1000));
    signal?.throwIfAborted();
  }

  #checkOpen(operation: string): void {
    if (this.#closing !== undefined) throw new TransportClosedError(operation);
  }

  #encode(subject: string, payload: unknown): Uint8Array {
    try {
      return this.serializer.encode(payload);
    } catch (error) {
      throw new TransportEncodeError(subject, this.serializer.name, error);
    }
  }

  /**
   * Decodes, calls the handler and sends the reply. A handler that returns synchronously is finished
   * here; one that returns a promise is tracked so close() can wait for it. Never throws: failures go to
   * the requester or to onError.
   */
  #dispatch(handler: Handler, message: Incoming): Promise<void> | undefined {
    const { subject, respond } = message;
    let payload: unknown;
    try {
      payload = this.serializer.decode(message.data);
    } catch (error) {
      const failure = new TransportDecodeError(subject, 'message', this.serializer.name, error);
      this.report(failure, subject);
      if (respond) this.#reply(subject, respond, { ok: false, error: toRemoteInfo(failure) });
      return undefined;
    }
    let result: unknown;
    try {
      result = handler(payload, { subject, isRequest: respond !== undefined });
    } catch (error) {
      this.#failed(subject, respond, error);
      return undefined;
    }
    if (typeof (result as PromiseLike<unknown> | null)?.then !== 'function') {
      if (respond) this.#answer(subject, respond, result);
      return undefined;
    }
    const run = Promise.resolve(result).then(
      (value) => {
        if (respond) this.#answer(subject, respond, value);
      },
      (error: unknown) => this.#failed(subject, respond, error),
    );
    this.#handling.add(run);
    void run.then(() => this.#handling.delete(run));
    return run;
  }

  #failed(subject: string, respond: Incoming['respond'], error: unknown): void {
    if (respond) this.#reply(subject, respond, { ok: false, error: toRemoteInfo(error) });
    else this.report(new TransportHandlerError(subject, error), subject);
  }

  #answer(subject: string, respond: (reply: ReplyFrame) => void, result: unknown): void {
    let data: Uint8Array;
    try {
      data = this.serializer.encode(result);
    } catch (error) {
      const failure = new TransportEncodeError(subject, this.serializer.name, error);
      this.#reply(subject, respond, { ok: false, error: toRemoteInfo(failure) });
      return;
    }
    this.#reply(subject, respond, { ok: true, data });
  }

  #reply(subject: string, respond: (reply: ReplyFrame) => void, reply: ReplyFrame): void {
    try {
      respond(reply);
    } catch (error) {
      this.report(error, subject);
      // The engine refused the reply's size: a small coded error in its place spares the requester its
      // whole timeout.
      if (error instanceof ReplyTooLargeError) {
        try {
          respond({ ok: false, error: toRemoteInfo(error) });
        } catch (again) {
          this.report(again, subject);
        }
      }
    }
  }

  /** Hands an error to onError, never letting onError's own failure escape. */
  protected report(error: unknown, subject: string): void {
    const failure = error instanceof KeelError ? error : new TransportHandlerError(subject, error);
    try {
      this.onError(failure, { subject });
    } catch (thrown) {
      reportUnhandled(
        'transport',
        `onError threw while reporting ${failure.code} on ${describe(subject)}`,
        thrown,
      );
    }
  }

  /**
   * Delivers a message to every subscription on `subject`. Returns nothing when the engine took it at
   * once, or a promise that settles when it has.
   */
  protected abstract sendMessage(
    subject: string,
    data: Uint8Array,
    signal?: AbortSignal,
  ): Promise<void> | undefined;
  /**
   * Registers a subscription; `deliver` is called for each message, in arrival order, and never inside
   * the publisher's own call.
   */
  protected abstract bind(
    subject: string,
    queue: string | undefined,
    deliver: (m: Incoming) => void,
  ): Binding;
  /**
   * Sends a request to one responder and resolves to its reply. When `signal` aborts, must stop waiting,
   * free what it holds for the request, and reject with `signal.reason`.
   */
  protected abstract sendRequest(subject: string, data: Uint8Array, signal: AbortSignal): Promise<ReplyFrame>;
  /**
   * Flushes and closes the connection (subscriptions are already gone); after `graceMs` it must close
   * without flushing, so close() always ends with the connection closed.
   */
  protected abstract shutdown(graceMs: number): Promise<void>;
  /** A word on the connection for error messages: `connected`, `reconnecting`, ... */
  protected abstract connectionState(): string;
}
