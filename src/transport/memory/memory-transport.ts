/** The embedded Transport: every transport opened on `memory://name` in this process shares one hub. */
import { describe, InvalidArgumentError } from '../../errors.ts';
import {
  BaseTransport,
  type Binding,
  type Incoming,
  type ReplyFrame,
  type ResolvedOptions,
  resolveOptions,
} from '../base-transport.ts';
import { subjectMatcher } from '../subject.ts';
import type { TransportOptions } from '../transport.ts';
import { NoRespondersError } from '../transport-errors.ts';
import { MemoryHub } from './memory-hub.ts';

/** Hubs by name; a hub lives while a transport uses it. */
const hubs = new Map<string, MemoryHub>();

export class MemoryTransport extends BaseTransport {
  readonly kind = 'memory';
  /** The hub's name: the host of the `memory://` URL (empty for `memory://`). */
  readonly hubName: string;
  readonly #hub: MemoryHub;

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

  protected async sendMessage(subject: string, data: Uint8Array): Promise<void> {
    for (const target of this.#hub.route(subject)) target.deliver({ subject, data });
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

  protected sendRequest(subject: string, data: Uint8Array, signal: AbortSignal): Promise<ReplyFrame> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const targets = this.#hub.route(subject);
      if (targets.length === 0) {
        reject(new NoRespondersError(subject));
        return;
      }
      let done = false;
      const onAbort = () => {
        done = true;
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // Like NATS, every non-queue subscription receives the request; the first reply wins.
      const respond = (reply: ReplyFrame) => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        resolve(reply);
      };
      for (const target of targets) target.deliver({ subject, data, respond });
    });
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
