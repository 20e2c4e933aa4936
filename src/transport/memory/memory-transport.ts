/** The embedded Transport: every transport opened on `memory://name` in this process shares one hub. */
import { describe, InvalidArgumentError } from '../../errors.ts';
import {
  BaseTransport,
  type Binding,
  type Incoming,
  type ReplyFrame,
  type ReplyOutcome,
  type ReplyWaiter,
} from '../base-transport.ts';
import { resolveConnection } from '../connection-options.ts';
import type { MessageHeaders } from '../headers.ts';
import { subjectMatcher } from '../subject.ts';
import type { TransportOptions } from '../transport.ts';
import { NoRespondersError } from '../transport-errors.ts';
import { type ResolvedOptions, resolveOptions } from '../transport-options.ts';
import { type HubSubscription, MemoryHub } from './memory-hub.ts';

/** Delivers on a later microtask, so a handler never runs inside the publisher's call (as over a network). */
function deliverLater(target: HubSubscription, message: Incoming): void {
  queueMicrotask(() => target.deliver(message));
}

/** Hubs by name; a hub lives while a transport uses it. */
const hubs = new Map<string, MemoryHub>();

/** Numbers the transports of this process, so request keys are unique across them. */
let transports = 0;

export class MemoryTransport extends BaseTransport {
  readonly kind = 'memory';
  /** The hub's name: the host of the `memory://` URL (empty for `memory://`). */
  readonly hubName: string;
  readonly #hub: MemoryHub;
  /** Request keys are `<this>.<n>`: unique among the requests of every memory transport in the process. */
  readonly #keyPrefix = `m${((transports = (transports + 1) % Number.MAX_SAFE_INTEGER)).toString(36)}.`;
  #requests = 0;

  constructor(hubName: string, options: ResolvedOptions) {
    super(options);
    this.hubName = hubName;
    let hub = hubs.get(hubName);
    if (hub === undefined) {
      hub = new MemoryHub();
      hubs.set(hubName, hub);
    }
    hub.users++;
    this.#hub = hub;
  }

  protected sendMessage(
    subject: string,
    data: Uint8Array,
    _signal?: AbortSignal,
    headers?: MessageHeaders,
  ): undefined {
    const message = headers === undefined ? { subject, data } : { subject, data, headers };
    for (const target of this.#hub.route(subject)) deliverLater(target, message);
    return undefined;
  }

  protected bind(subject: string, queue: string | undefined, deliver: (m: Incoming) => void): Binding {
    const remove = this.#hub.add({ subject, queue, matches: subjectMatcher(subject), deliver });
    return {
      unsubscribe: () => {
        remove();
        this.#hub.prune();
      },
      ready: Promise.resolve(),
    };
  }

  protected sendRequest(
    subject: string,
    data: Uint8Array,
    waiter: ReplyWaiter,
    timeoutMs: number,
    headers: MessageHeaders | undefined,
  ): string {
    const key = this.#nextKey();
    const targets = this.#hub.route(subject);
    if (targets.length === 0) {
      waiter.fail(new NoRespondersError(subject));
      return key;
    }
    // Like NATS, every non-queue subscription receives the request; the first reply wins (the waiter
    // ignores the rest, and any reply after the request ended).
    const respond = (reply: ReplyFrame) => waiter.reply(reply);
    const message = { subject, data, headers, respond, key, timeoutMs };
    for (const target of targets) deliverLater(target, message);
    return key;
  }

  protected sendGather(
    subject: string,
    data: Uint8Array,
    signal: AbortSignal,
    timeoutMs: number,
    headers: MessageHeaders | undefined,
    receive: (outcome: ReplyOutcome) => void,
  ): string {
    const key = this.#nextKey();
    if (signal.aborted) return key;
    const targets = this.#hub.route(subject);
    if (targets.length === 0) {
      queueMicrotask(() => receive({ error: new NoRespondersError(subject) }));
      return key;
    }
    // Each target answers once; replies after the gathering ended find it closed.
    const respond = (reply: ReplyFrame) => {
      if (!signal.aborted) receive({ reply });
    };
    const message = { subject, data, headers, respond, key, timeoutMs };
    for (const target of targets) deliverLater(target, message);
    return key;
  }

  #nextKey(): string {
    this.#requests = (this.#requests + 1) % Number.MAX_SAFE_INTEGER;
    return this.#keyPrefix + this.#requests.toString(36);
  }

  protected async shutdown(): Promise<void> {
    this.#hub.users--;
    if (this.#hub.users === 0 && hubs.get(this.hubName) === this.#hub) hubs.delete(this.hubName);
  }

  protected connectionState(): string {
    return 'in-process';
  }
}

/** Opens a memory transport for `memory://` or `memory://name`. */
export function openMemoryTransport(url: URL, options?: TransportOptions): MemoryTransport {
  const resolved = resolveOptions(options);
  resolveConnection('memory', url, options);
  if (
    url.username ||
    url.password ||
    url.port ||
    (url.pathname !== '' && url.pathname !== '/') ||
    url.search
  ) {
    throw new InvalidArgumentError(
      `A memory transport URL is memory:// or memory://name; received ${describe(url.href)}`,
    );
  }
  resolved.signal?.throwIfAborted();
  return new MemoryTransport(url.hostname, resolved);
}
