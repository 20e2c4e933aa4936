/**
 * What the bridges of one EventBus share: the bus's origin id, the one "*" listener that numbers each
 * local event and hands it to every bridge, the topics being delivered from the transport right now,
 * and the memory of recent remote events that stops a second copy of one event from being delivered.
 */
import { randomUUID } from 'node:crypto';
import type { EventBus, Subscription } from '../events/index.ts';

/** How many recent event numbers are remembered per origin, and how many origins. */
const seqsPerOrigin = 256;
const maxOrigins = 1024;

/** What a bridge gives the link: called with each local event, numbered once for all the bridges. */
export type Forward = (topic: string, payload: unknown, seq: number) => void;

export class BusLink {
  /** Identifies this bus on the wire; a bridge drops what its own bus sent. */
  readonly origin = randomUUID();
  readonly #bus: EventBus<any>;
  readonly #bridges = new Set<Forward>();
  /** Topics being delivered from a transport, with their nesting depth: not sent back out. */
  readonly #delivering = new Map<string, number>();
  readonly #seen = new Map<string, Set<number>>();
  #seq = 0;
  #listener: Subscription | undefined;

  constructor(bus: EventBus<any>) {
    this.#bus = bus;
  }

  attach(bridge: Forward): void {
    this.#bridges.add(bridge);
    this.#listener ??= this.#bus.on('*', (payload: unknown, topic: string) => this.#local(payload, topic));
  }

  /** Removes a bridge; the last one also removes the bus listener. */
  detach(bridge: Forward): void {
    this.#bridges.delete(bridge);
    if (this.#bridges.size === 0) {
      this.#listener?.();
      this.#listener = undefined;
      this.#seen.clear();
    }
  }

  /**
   * Whether the event `seq` of `origin` is new to this bus; records it. Remembers a bounded window, so
   * copies of one event that arrive close together (over two bridges) are recognised.
   */
  firstSight(origin: string, seq: number): boolean {
    let seqs = this.#seen.get(origin);
    if (seqs === undefined) {
      if (this.#seen.size >= maxOrigins) this.#seen.delete(this.#seen.keys().next().value as string);
      seqs = new Set();
      this.#seen.set(origin, seqs);
    } else if (seqs.has(seq)) return false;
    seqs.add(seq);
    if (seqs.size > seqsPerOrigin) seqs.delete(seqs.values().next().value as number);
    return true;
  }

  /** Emits a remote event on the bus; while it runs, no bridge of this bus sends its topic out again. */
  deliver(topic: string, payload: unknown): void {
    const delivering = this.#delivering;
    delivering.set(topic, (delivering.get(topic) ?? 0) + 1);
    try {
      this.#bus.emit(topic, payload);
    } finally {
      const depth = delivering.get(topic) as number;
      if (depth === 1) delivering.delete(topic);
      else delivering.set(topic, depth - 1);
    }
  }

  #local(payload: unknown, topic: string): void {
    if (this.#delivering.size !== 0 && this.#delivering.has(topic)) return;
    const seq = ++this.#seq;
    for (const forward of this.#bridges) forward(topic, payload, seq);
  }
}

// A side table rather than a field on EventBus: the events floor knows nothing of transports.
const links = new WeakMap<EventBus<any>, BusLink>();

/** The link of `bus`, made on first use. */
export function linkOf(bus: EventBus<any>): BusLink {
  let link = links.get(bus);
  if (link === undefined) {
    link = new BusLink(bus);
    links.set(bus, link);
  }
  return link;
}
