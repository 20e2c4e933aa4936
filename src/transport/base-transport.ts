/**
 * What every Transport shares: argument checks, encoding, handler calls and replies, request deadlines,
 * and the draining close. An engine supplies only the primitives at the bottom of the class.
 */

import {
  clearLongTimeout,
  type LongTimer,
  onAbort,
  raceAbort,
  setLongTimeout,
  settleWithin,
  unrefLongTimeout,
} from '../abort.ts';
import { reportUnhandled } from '../diagnostics.ts';
import { checkFunction, describe, KeelError } from '../errors.ts';
import { subscription as eventsSubscription } from '../events/index.ts';
import { type CancelReason, cancelSubject, decodeCancel, encodeCancel } from './cancel-message.ts';
import { DeliveryLimit } from './delivery-limit.ts';
import type { Binding, Incoming, ReplyFrame, ReplyOutcome, ReplyWaiter } from './engine-types.ts';
import { HandlerCalls, type Received } from './handler-calls.ts';
import { type MessageHeaders, noHeaders, readHeaders } from './headers.ts';
import { PendingRequests } from './pending-requests.ts';
import { RequestCall } from './request-call.ts';
import type { Serializer } from './serializer.ts';
import { checkSubject, hasWildcard } from './subject.ts';
import type {
  CloseOptions,
  GatheredReply,
  Handler,
  PublishOptions,
  RequestManyOptions,
  RequestOptions,
  SubscribeOptions,
  Transport,
  TransportErrorHandler,
  TransportSubscription,
} from './transport.ts';
import {
  NoRespondersError,
  RemoteHandlerError,
  ReplyTooLargeError,
  SubscriptionOverflowError,
  TransportClosedError,
  TransportConnectionError,
  TransportDecodeError,
  TransportEncodeError,
  TransportHandlerError,
  TransportTimeoutError,
} from './transport-errors.ts';
import {
  type ResolvedOptions,
  resolveClose,
  resolvePublish,
  resolveRequest,
  resolveRequestMany,
  resolveSubscribe,
} from './transport-options.ts';

export type { Binding, Incoming, ReplyFrame, ReplyOutcome, ReplyWaiter };

/** What publish() returns when the engine took the message at once. */
const sent = Promise.resolve();

/** Why a gathering ended as it should (any other abort reason is a failure). */
class GatherEnd {
  readonly why: 'deadline' | 'stall' | 'enough' | 'none';
  constructor(why: GatherEnd['why']) {
    this.why = why;
  }
}
const ends = {
  deadline: new GatherEnd('deadline'),
  stall: new GatherEnd('stall'),
  enough: new GatherEnd('enough'),
  none: new GatherEnd('none'),
};

export abstract class BaseTransport implements Transport {
  abstract readonly kind: string;
  protected readonly serializer: Serializer;
  protected readonly onError: TransportErrorHandler;
  #closing: Promise<void> | undefined;
  readonly #subscriptions = new Set<TransportSubscription>();
  readonly #calls: HandlerCalls;
  /** Requests waiting for their reply, with their deadlines. */
  readonly #pending: PendingRequests;
  /** Gatherings (requestMany) under way, by their promise. */
  readonly #gatherings = new Map<Promise<unknown>, AbortController>();
  /** Whether a cancel subscription was refused already: reported once, not once per subscription. */
  #cancelRefused = false;

  constructor(options: ResolvedOptions) {
    this.serializer = options.serializer;
    this.onError = options.onError;
    this.#calls = new HandlerCalls(this.serializer, (error, subject) => this.report(error, subject));
    this.#readyTimeoutMs = options.connectTimeoutMs;
    this.#pending = new PendingRequests({
      read: (subject, frame) => this.#read(subject, frame),
      cancel: (subject, key, reason) => this.#cancel(subject, key, reason),
      timedOut: (subject, timeoutMs) => new TransportTimeoutError(subject, timeoutMs, this.connectionState()),
    });
  }

  /** How long a subscription's `ready` waits for the engine to confirm it (the transport's connectTimeoutMs). */
  readonly #readyTimeoutMs: number;

  /**
   * Bounds an engine's confirmation of a subscription: a frozen server never answers, and `ready` (which
   * createBroker and others await) must not stay pending. The subscription itself stays in place.
   */
  #bounded(ready: Promise<void>, subject: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setLongTimeout(
        () =>
          reject(
            new TransportConnectionError(
              `The engine did not confirm the subscription to ${describe(subject)} within ${this.#readyTimeoutMs} ms (connection: ${this.connectionState()})`,
            ),
          ),
        this.#readyTimeoutMs,
      );
      // The bound alone never keeps the process alive: a live connection does that while one is open.
      unrefLongTimeout(timer);
      ready.then(
        () => {
          clearLongTimeout(timer);
          resolve();
        },
        (error: unknown) => {
          clearLongTimeout(timer);
          reject(error);
        },
      );
    });
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  publish(subject: string, payload?: unknown, options?: PublishOptions): Promise<void> {
    // Not `async`: on the hot path a settled promise is returned without an extra turn of the queue.
    try {
      checkSubject('Transport.publish() subject', subject, false);
      const resolved = resolvePublish(options);
      this.#checkOpen('publish');
      if (resolved === undefined) return this.sendMessage(subject, this.#encode(subject, payload)) ?? sent;
      const { signal, headers } = resolved;
      signal?.throwIfAborted();
      return this.sendMessage(subject, this.#encode(subject, payload), signal, headers) ?? sent;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  subscribe<T = unknown>(
    subject: string,
    handler: Handler<T>,
    options: SubscribeOptions = {},
  ): TransportSubscription {
    checkSubject('Transport.subscribe() subject', subject, true);
    checkFunction('Transport.subscribe() handler', handler);
    const { queue, signal, concurrency, maxPending, answers } = resolveSubscribe(options);
    this.#checkOpen('subscribe');
    let active = !signal?.aborted;
    let unwatch: (() => void) | undefined;
    // Requests in this subscription's hands (waiting for a turn or running), by key: what cancels find.
    const inFlight = answers ? new Map<string, RequestCall>() : undefined;
    const limit = new DeliveryLimit<Received>(
      concurrency,
      maxPending,
      (message, done) => this.#calls.call(handler as Handler, message, answers, done),
      (message, firstOfBurst) => {
        message.call?.end();
        // Built only when needed: a flood may drop many messages a millisecond.
        if (!firstOfBurst && message.respond === undefined) return;
        const overflow = new SubscriptionOverflowError(subject, concurrency, maxPending);
        if (firstOfBurst) this.report(overflow, subject);
        // A requester learns at once, and may try another member of the group.
        if (answers) this.#calls.refuse(message, overflow);
      },
    );
    // A wide wildcard also matches the cancels and replies of requests (`_INBOX.…`): not messages.
    const wide = hasWildcard(subject) && !subject.startsWith('_INBOX.');
    // Bound before the subscription itself, so once `ready` resolves the engine has both.
    const cancels = active && inFlight !== undefined ? this.#bindCancels(subject, inFlight) : undefined;
    let binding: Binding;
    try {
      binding = active
        ? this.bind(subject, queue, (message) => {
            if (wide && message.subject.startsWith('_INBOX.')) return;
            if (!active) {
              // Routed to this member before the engine heard it leave: the requester learns now, not at
              // its deadline, and may try another member. (Without a group, the other subscribers have
              // their own copy, and a quick refusal here could beat their answer.)
              if (answers && queue !== undefined && message.respond !== undefined) {
                this.#calls.refuse(message, new NoRespondersError(message.subject));
              }
              return;
            }
            if (message.respond === undefined) limit.offer(message);
            else {
              const received = this.#track(message, inFlight);
              // Waiting for a turn, it outlives this delivery: cancels must find it.
              if (!limit.free) received.call?.track();
              limit.offer(received);
            }
          })
        : { unsubscribe() {}, ready: Promise.resolve() };
    } catch (error) {
      // The engine refused the subscription (a queue group over Redis): its cancel listener goes too.
      cancels?.unsubscribe();
      throw error;
    }
    const end = eventsSubscription(() => {
      active = false;
      unwatch?.();
      this.#subscriptions.delete(subscription);
      binding.unsubscribe();
      cancels?.unsubscribe();
      // Messages still waiting for a turn are not handled; their requesters hear so now, not at a timeout.
      for (const message of limit.clear()) {
        message.call?.end();
        if (answers && message.respond) this.#calls.refuse(message, new NoRespondersError(message.subject));
      }
    });
    const ready = active ? this.#bounded(binding.ready, subject) : binding.ready;
    const subscription: TransportSubscription = Object.defineProperty(
      Object.assign(end, { subject, queue, ready }),
      'dropped',
      { enumerable: true, get: () => limit.dropped },
    ) as TransportSubscription;
    // A failed registration reaches onError even when nobody awaits `ready`.
    ready.catch((error: unknown) => this.report(error, subject));
    if (active) {
      this.#subscriptions.add(subscription);
      if (signal !== undefined) unwatch = onAbort(signal, subscription);
    }
    return subscription;
  }

  request<R = unknown>(subject: string, payload?: unknown, options?: RequestOptions): Promise<R> {
    // Not `async`: the reply settles the caller's promise directly, without extra turns of the queue.
    let data: Uint8Array;
    let resolved: ReturnType<typeof resolveRequest>;
    try {
      checkSubject('Transport.request() subject', subject, false);
      resolved = resolveRequest(options);
      this.#checkOpen('request');
      resolved.signal?.throwIfAborted();
      data = this.#encode(subject, payload);
    } catch (error) {
      return Promise.reject(error);
    }
    const { timeoutMs, signal, headers } = resolved;
    // Registered (with its deadline) before it is sent: an engine may settle it inside sendRequest.
    const request = this.#pending.open(subject, timeoutMs);
    // Many requests may share one caller signal: they share its one listener too.
    if (signal !== undefined) request.watch(signal);
    try {
      request.key = this.sendRequest(subject, data, request, timeoutMs, headers);
    } catch (error) {
      request.fail(error as Error);
    }
    return request.promise as Promise<R>;
  }

  requestMany<R = unknown>(
    subject: string,
    payload?: unknown,
    options?: RequestManyOptions,
  ): Promise<GatheredReply<R>[]> {
    let data: Uint8Array;
    let resolved: ReturnType<typeof resolveRequestMany>;
    try {
      checkSubject('Transport.requestMany() subject', subject, false);
      resolved = resolveRequestMany(options);
      this.#checkOpen('requestMany');
      resolved.signal?.throwIfAborted();
      data = this.#encode(subject, payload);
    } catch (error) {
      return Promise.reject(error);
    }
    const { timeoutMs, maxReplies, stallMs, signal, headers } = resolved;
    const replies: GatheredReply<R>[] = [];
    const { promise, resolve, reject } = Promise.withResolvers<GatheredReply<R>[]>();
    const control = new AbortController();
    let key = '';
    let stall: LongTimer | undefined;
    let failed = false;
    const timer = setLongTimeout(() => control.abort(ends.deadline), timeoutMs);
    const unwatch = signal === undefined ? undefined : onAbort(signal, () => control.abort(signal.reason));
    control.signal.addEventListener(
      'abort',
      () => {
        clearLongTimeout(timer);
        clearLongTimeout(stall);
        unwatch?.();
        this.#gatherings.delete(promise);
        const reason: unknown = control.signal.reason;
        // Responders may still be working on it: tell them, unless nobody was there or nothing was sent.
        if (!failed && key !== '' && reason !== ends.none) {
          this.#cancel(subject, key, reason === ends.deadline ? 'deadline' : 'abort');
        }
        if (reason instanceof GatherEnd) resolve(replies);
        else reject(reason);
      },
      { once: true },
    );
    const receive = (outcome: ReplyOutcome) => {
      if (control.signal.aborted) return;
      if ('error' in outcome) {
        failed = true;
        control.abort(outcome.error instanceof NoRespondersError ? ends.none : outcome.error);
        return;
      }
      try {
        replies.push({ ok: true, value: this.#read(subject, outcome.reply) as R });
      } catch (error) {
        replies.push({ ok: false, error: error as KeelError });
      }
      if (replies.length >= maxReplies) control.abort(ends.enough);
      else if (stallMs !== Number.POSITIVE_INFINITY) {
        clearLongTimeout(stall);
        stall = setLongTimeout(() => control.abort(ends.stall), stallMs);
      }
    };
    // Registered first: an engine may end the gathering inside sendGather.
    this.#gatherings.set(promise, control);
    try {
      key = this.sendGather(subject, data, control.signal, timeoutMs, headers, receive);
    } catch (error) {
      failed = true;
      control.abort(error);
    }
    return promise;
  }

  /** A reply frame's value; throws the error a requester gets for a failed or undecodable reply. */
  #read(subject: string, reply: ReplyFrame): unknown {
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
      return this.serializer.decode(reply.data);
    } catch (error) {
      throw new TransportDecodeError(subject, 'reply', this.serializer.name, error);
    }
  }

  close(options?: CloseOptions): Promise<void> {
    if (this.#closing === undefined) {
      try {
        const { timeoutMs, signal } = resolveClose(options);
        this.#closing = this.#drain(timeoutMs, signal);
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
    let settled = await settleWithin(this.#waiting(), timeoutMs, signal);
    for (const unsubscribe of [...this.#subscriptions]) unsubscribe();
    // Handlers still running send their replies.
    const left = deadline - Date.now();
    if (settled && this.#calls.running.size > 0)
      settled = left > 0 && (await settleWithin([...this.#calls.running], left, signal));
    if (!settled) {
      const abandoned = this.#waiting();
      // Each abandoned request sends its cancel as it rejects, before the connection goes.
      for (const request of this.#pending.all()) {
        request.abandon(new TransportClosedError('wait for a reply'), 'abort');
      }
      for (const control of this.#gatherings.values()) {
        control.abort(new TransportClosedError('wait for a reply'));
      }
      await Promise.allSettled(abandoned);
    }
    const down = this.shutdown(signal?.aborted ? 1 : Math.max(deadline - Date.now(), 1000));
    if (signal === undefined) await down;
    else {
      // The caller may stop waiting (the connection goes on closing, within its own bound); a failure
      // after that has nobody to reach.
      down.catch(() => {});
      await raceAbort(down, signal);
    }
    signal?.throwIfAborted();
  }

  /** The promises of the requests and gatherings still waiting. */
  #waiting(): Promise<unknown>[] {
    return [...this.#pending.all().map((request) => request.promise), ...this.#gatherings.keys()];
  }

  /** A received request: its deadline from the sender's budget, registered where cancels find it. */
  #track(message: Incoming, inFlight: Map<string, RequestCall> | undefined): Received {
    let headers = noHeaders;
    let budget = message.timeoutMs;
    if (message.headers !== undefined) {
      const read = readHeaders(message.headers);
      headers = read.headers;
      budget ??= read.timeoutMs;
    }
    const call = new RequestCall(message.subject, message.key ?? '', headers, budget, inFlight);
    return { ...message, call };
  }

  /** Listens for cancels of requests on `subject`, from any requester; unknown keys are ignored. */
  #bindCancels(subject: string, inFlight: Map<string, RequestCall>): Binding {
    const on = cancelSubject(subject);
    const binding = this.bind(on, undefined, (message) => {
      let key: string;
      let reason: CancelReason;
      try {
        ({ key, reason } = decodeCancel(message.data));
      } catch {
        return; // not a cancel this version reads: the deadline still bounds the call
      }
      inFlight.get(key)?.cancel(reason);
    });
    binding.ready.catch((error: unknown) => {
      // Without it, handlers still get their deadline; one report says why cancels do not arrive.
      if (this.#cancelRefused) return;
      this.#cancelRefused = true;
      this.report(error, on);
    });
    return binding;
  }

  /** Fire and forget: a cancel never holds the caller up, and a failure to send one only costs the responder time. */
  #cancel(subject: string, key: string, reason: CancelReason): void {
    try {
      this.sendMessage(cancelSubject(subject), encodeCancel(key, reason))?.catch(() => {});
    } catch {
      // the connection is gone: the responder's deadline ends the call
    }
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
    headers?: MessageHeaders,
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
   * Sends a request to one responder, with its budget (`timeoutMs`, which the responder receives as
   * `Incoming.timeoutMs` or as the `keel-timeout` header) and the caller's `headers`, and hands `waiter`
   * the reply or the failure (at once, when nothing could be sent). An engine that holds the request
   * sets `waiter.release`, which the base calls when the request ends first (its deadline, the caller's
   * abort, close). Returns the key the responder receives as `Incoming.key`.
   */
  protected abstract sendRequest(
    subject: string,
    data: Uint8Array,
    waiter: ReplyWaiter,
    timeoutMs: number,
    headers: MessageHeaders | undefined,
  ): string;
  /**
   * Sends a request every responder on `subject` may answer (one member per queue group), with its budget
   * and headers as `sendRequest` does, and calls `receive` with each reply until `signal` aborts; then it
   * must free what it holds for the gathering and call `receive` no more. `{ error }` ends the gathering:
   * NoRespondersError when nobody subscribes, any other error when the engine refused the request.
   * Returns the key the responders know the request by.
   */
  protected abstract sendGather(
    subject: string,
    data: Uint8Array,
    signal: AbortSignal,
    timeoutMs: number,
    headers: MessageHeaders | undefined,
    receive: (outcome: ReplyOutcome) => void,
  ): string;
  /**
   * Flushes and closes the connection (subscriptions are already gone); after `graceMs` it must close
   * without flushing, so close() always ends with the connection closed.
   */
  protected abstract shutdown(graceMs: number): Promise<void>;
  /** A word on the connection for error messages: `connected`, `reconnecting`, ... */
  protected abstract connectionState(): string;
}
