/** Observers: hear every event of one key, from every instance, outside any queue group (`broker.on`). */
import { onAbort } from '../abort.ts';
import { reportUnhandled } from '../diagnostics.ts';
import { checkFunction, checkOptions, checkSignal, describe } from '../errors.ts';
import type { Subscription } from '../events/index.ts';
import { SubscriptionOverflowError, type Transport, type TransportSubscription } from '../transport/index.ts';
import { BrokerProtocolError } from './broker-errors.ts';
import type { CompiledEvent } from './contract.ts';
import { validate } from './validate.ts';
import { decodeEvent } from './wire.ts';

export interface ObserveOptions {
  /** Unsubscribes when aborted. */
  readonly signal?: AbortSignal | undefined;
}

/** What `broker.on` returns: call it (or let `using` dispose it) to stop listening. */
export interface EventObserver extends Subscription {
  /**
   * Resolves once the engine has registered the observer, so events published from any instance from
   * then on reach it; rejects when registering failed.
   */
  readonly ready: Promise<void>;
}

/** How many events may wait for the listener before new ones are dropped. */
export const maxPending = 10_000;

/** Receives each payload, already validated against the event's schema. */
export type EventObserverListener<P> = (payload: P) => unknown;

/**
 * Subscribes to both subjects of `event` (the emitted one and the broadcast one) with no queue group, so
 * this observer gets a copy of every event whichever instances also listen in groups. Listener calls run
 * one at a time in arrival order; a listener that returns a promise holds the next call until it settles,
 * and at most `maxPending` events wait (past it, events are dropped and the overflow reported).
 * Undecodable or invalid payloads and listener failures go to `reportUnhandled`, never to the caller.
 */
export function observe(
  transport: Transport,
  event: CompiledEvent,
  nodeId: string,
  listener: EventObserverListener<unknown>,
  options: ObserveOptions | undefined,
  registry: Set<EventObserver>,
): EventObserver {
  checkFunction('Broker.on() listener', listener);
  checkOptions('Broker.on() options', options, ['signal']);
  checkSignal('Broker.on() signal', options?.signal);
  const signal = options?.signal;
  const subscriptions: TransportSubscription[] = [];
  let unwatch: (() => void) | undefined;
  let ended = false;
  const deliver = async (message: unknown): Promise<void> => {
    if (ended) return;
    try {
      const decoded = decodeEvent(message);
      if (!decoded.ok) throw new BrokerProtocolError(event.key, decoded.reason);
      await listener(await validate(event.spec.payload, decoded.value.payload, event.key, 'payload', nodeId));
    } catch (error) {
      reportUnhandled('broker', `observer of ${describe(event.key)} on ${nodeId}`, error);
    }
  };
  // One queue for both subjects, so emitted and broadcast events keep the order they arrived in; bounded,
  // like a transport subscription: past maxPending waiting events, new ones are dropped and reported once
  // per burst.
  let tail: Promise<void> = Promise.resolve();
  let pending = 0;
  let overflowing = false;
  const handler = (message: unknown): void => {
    // `pending` counts the event being delivered too: maxPending may wait behind it.
    if (pending > maxPending) {
      if (!overflowing) {
        overflowing = true;
        reportUnhandled(
          'broker',
          `observer of ${describe(event.key)} on ${nodeId}`,
          new SubscriptionOverflowError(event.subject, 1, maxPending),
        );
      }
      return;
    }
    pending++;
    tail = tail
      .then(() => deliver(message))
      .then(() => {
        pending--;
        if (pending === 0) overflowing = false;
      });
  };
  const subscribeOptions = { reply: false, concurrency: Number.POSITIVE_INFINITY } as const;
  const end = (): void => {
    if (ended) return;
    ended = true;
    unwatch?.();
    for (const unsubscribe of subscriptions) unsubscribe();
    registry.delete(observer);
  };
  const observer = end as EventObserver;
  Object.defineProperty(observer, Symbol.dispose, { value: end });
  if (signal?.aborted) {
    Object.defineProperty(observer, 'ready', { value: Promise.resolve() });
    ended = true;
    return observer;
  }
  subscriptions.push(transport.subscribe(event.subject, handler, subscribeOptions));
  subscriptions.push(transport.subscribe(event.broadcastSubject, handler, subscribeOptions));
  const ready = Promise.all(subscriptions.map((s) => s.ready)).then(() => {});
  // A caller that never awaits `ready` must not see an unhandled rejection from it.
  ready.catch(() => {});
  Object.defineProperty(observer, 'ready', { value: ready });
  if (signal !== undefined) unwatch = onAbort(signal, end);
  registry.add(observer);
  return observer;
}
