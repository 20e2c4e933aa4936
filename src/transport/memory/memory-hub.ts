/** The in-process "server" that memory transports of one name share: routing and queue groups. */
import type { Incoming } from '../engine-types.ts';
import { hasWildcard } from '../subject.ts';

export interface HubSubscription {
  readonly subject: string;
  readonly queue: string | undefined;
  readonly matches: (subject: string) => boolean;
  readonly deliver: (message: Incoming) => void;
}

/** Routes messages between the memory transports opened with the same `memory://name`. */
export class MemoryHub {
  /** How many transports use this hub; the last one to close removes it. */
  users = 0;
  readonly #exact = new Map<string, Set<HubSubscription>>();
  readonly #wildcard = new Set<HubSubscription>();
  /** Round-robin position of each queue group, keyed by subject and queue name. */
  readonly #turns = new Map<string, number>();

  add(subscription: HubSubscription): () => void {
    if (hasWildcard(subscription.subject)) {
      this.#wildcard.add(subscription);
      return () => this.#wildcard.delete(subscription);
    }
    let set = this.#exact.get(subscription.subject);
    if (set === undefined) {
      set = new Set();
      this.#exact.set(subscription.subject, set);
    }
    set.add(subscription);
    return () => {
      set.delete(subscription);
      if (set.size === 0) this.#exact.delete(subscription.subject);
    };
  }

  /** The subscriptions a message on `subject` goes to: all plain ones, one member per queue group. */
  route(subject: string): HubSubscription[] {
    const targets: HubSubscription[] = [];
    const groups = new Map<string, HubSubscription[]>();
    const consider = (s: HubSubscription) => {
      if (s.queue === undefined) {
        targets.push(s);
        return;
      }
      const key = `${s.subject}\0${s.queue}`;
      const members = groups.get(key);
      if (members) members.push(s);
      else groups.set(key, [s]);
    };
    for (const s of this.#exact.get(subject) ?? []) consider(s);
    for (const s of this.#wildcard) if (s.matches(subject)) consider(s);
    for (const [key, members] of groups) {
      const turn = this.#turns.get(key) ?? 0;
      targets.push(members[turn % members.length] as HubSubscription);
      this.#turns.set(key, (turn + 1) % 1_000_000_007);
    }
    return targets;
  }

  /** Forgets the round-robin positions of groups that have no member left. */
  prune(): void {
    if (this.#turns.size === 0) return;
    const live = new Set<string>();
    for (const set of this.#exact.values()) for (const s of set) live.add(`${s.subject}\0${s.queue}`);
    for (const s of this.#wildcard) live.add(`${s.subject}\0${s.queue}`);
    for (const key of this.#turns.keys()) if (!live.has(key)) this.#turns.delete(key);
  }
}
