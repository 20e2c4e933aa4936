/**
 * What the bridges of one EventBus share: the bus's origin id, the one "*" listener that gives each local
 * event its id and hands it to every bridge, the topics being delivered from the transport right now, and
 * the memory of recent remote events that stops a second copy of one event from being delivered.
 */
import { randomUUID } from 'node:crypto';
import type { EventBus, Subscription } from '../events/index.ts';

/**
 * How many recent event ids are remembered per origin, and how many origins: past the limit, the origin
 * seen least recently is forgotten. Together with the bounded length of origins and ids (see
 * event-bridge-envelope.ts), this bounds what anyone publishing on a bridge's subjects can make it keep.
 */
export const idsPerOrigin = 128;
export const maxTrackedOrigins = 1024;

/** What a bridge gives the link: called with each local event and its id, made once for all the bridges. */
export type Forward = (topic: string, payload: unknown, id: string) => void;

export class BusLink {
  /** Identifies this bus on the wire; a bridge drops what its own bus sent. */
  readonly origin = randomUUID();
  readonly #bus: EventBus<any>;
  readonly #bridges = new Set<Forward>();
  /** Topics being delivered from a transport, with their nesting depth: not sent back out. */
  readonly #delivering = new Map<string, number>();
  /** Recent event ids by origin, the origin seen least recently first. */
  readonly #seen = new Map<string, Set<string>>();
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
   * Whether the event `id` of `origin` is new to this bus; records it. Only an exact copy of an event
   * seen recently is refused: ids are random, so nobody can name an event before it is sent, and no
   * message can make a later event look like a copy.
   */
  firstSight(origin: string, id: string): boolean {
    const seen = this.#seen;
    let ids = seen.get(origin);
    if (ids === undefined) {
      if (seen.size >= maxTrackedOrigins) seen.delete(seen.keys().next().value as string);
      ids = new Set();
    } else {
      if (ids.has(id)) return false;
      // Moved to the end: the map's order is the order in which origins were last seen.
      seen.delete(origin);
    }
    seen.set(origin, ids);
    ids.add(id);
    if (ids.size > idsPerOrigin) ids.delete(ids.values().next().value as string);
    return true;
  }

  /** How many origins the de-duplication memory holds now. */
  get trackedOrigins(): number {
    return this.#seen.size;
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
    const id = randomUUID();
    for (const forward of this.#bridges) forward(topic, payload, id);
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
