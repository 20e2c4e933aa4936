/**
 * The topic tree of an EventBus: one node per topic, each holding its subscriptions and its dispatch
 * list (its own subscriptions, then its parent's list, so its ancestors' and finally `"*"`'s), rebuilt
 * when a subscription below an ancestor changes, never on emit.
 */
import type { StandardSchemaV1 } from '../standard-schema.ts';
import { ALL, checkTopic } from './topics.ts';

export type Fn = (payload: unknown, topic: string) => unknown;

export const EMPTY: readonly Entry[] = Object.freeze([]);

/** One subscription. Its `call` is what dispatch invokes: the listener, or a wrapper for `once`. */
export class Entry {
  readonly listener: Fn;
  readonly node: TopicNode;
  call: Fn;
  active = true;
  fired = false;
  /** Stops watching the subscription's signal (the bus's shared abort listener); set only with a signal. */
  unwatch: (() => void) | undefined = undefined;

  constructor(listener: Fn, node: TopicNode) {
    this.listener = listener;
    this.node = node;
    this.call = listener;
  }
}

/** The call of a list's only entry, or undefined for a list of any other length. */
const soleCall = (list: readonly Entry[]): Fn | undefined =>
  list.length === 1 ? (list[0] as Entry).call : undefined;

/**
 * One topic of the tree. `dispatch` is its own entries, then its parent's dispatch (so its ancestors'
 * and finally `"*"`'s): rebuilt on every subscription change below an ancestor, never on emit. Arrays are
 * replaced, never mutated, so an emit in progress keeps walking the list it started with.
 */
export class TopicNode {
  readonly topic: string;
  readonly parent: TopicNode | undefined;
  children: TopicNode[] = [];
  own: readonly Entry[] = EMPTY;
  dispatch: readonly Entry[];
  /**
   * The one call to make when `dispatch` holds exactly one entry and no schema is defined: the common case
   * takes one load from the node instead of walking a list.
   */
  sole: Fn | undefined;
  schema: StandardSchemaV1 | undefined = undefined;
  warned = false;

  constructor(topic: string, parent: TopicNode | undefined) {
    this.topic = topic;
    this.parent = parent;
    this.dispatch = parent === undefined ? EMPTY : parent.dispatch;
    this.sole = soleCall(this.dispatch);
  }

  /** A node with no listener, no schema and no child is only a cached lookup, safe to forget. */
  get idle(): boolean {
    return this.own.length === 0 && this.schema === undefined && this.children.length === 0;
  }
}

/**
 * The topic → node table. A Map lookup costs more than the rest of an emit to one listener, so this is
 * an object whose keyed loads V8 caches; its prototype is an empty object without a prototype, so no
 * topic (`constructor`, `__proto__`, `toString`) finds anything inherited, and the object itself stays
 * in V8's fast mode, unlike one made by `Object.create(null)`.
 */
export type Table = Record<string, TopicNode | undefined>;
function Table(): void {}
Table.prototype = Object.create(null);
export const newTable = (): Table => new (Table as unknown as new () => Table)();

/** Below this many nodes no sweep of idle ones happens. */
const SWEEP_FLOOR = 1024;

/**
 * Finds and creates nodes, and keeps dispatch lists current. Plain fields: `nodes` is read on every
 * emit.
 */
export class TopicTree {
  readonly root = new TopicNode(ALL, undefined);
  /** Every node but the root, by topic; replaced by a sweep. */
  nodes: Table = newTable();
  #count = 0;
  #sweepAt = SWEEP_FLOOR;

  /** The node of a topic that may be listened to (`"*"` included), created with its ancestors if new. */
  listenNode(topic: string): TopicNode {
    if (topic === ALL) return this.root;
    checkTopic('EventBus topic', topic, true);
    return this.#create(topic);
  }

  /** The node of a topic that may be emitted (never `"*"`), created with its ancestors if new. */
  emitNode(topic: string): TopicNode {
    checkTopic('EventBus topic', topic, false);
    return this.#create(topic);
  }

  /** Appends a subscription to its node (a new array: an emit in progress keeps the old one). */
  add(entry: Entry): void {
    const node = entry.node;
    const own = node.own;
    node.own = own.length === 0 ? [entry] : [...own, entry];
    this.#rebuild(node);
  }

  /** Removes a subscription from its node (a new array, likewise). */
  delete(entry: Entry): void {
    const node = entry.node;
    const own = node.own;
    const index = own.indexOf(entry);
    node.own = own.length === 1 ? EMPTY : own.filter((_, i) => i !== index);
    this.#rebuild(node);
  }

  /** Gives a node its schema; from now on every emit to it goes through the validating path. */
  define(node: TopicNode, schema: StandardSchemaV1): void {
    node.schema = schema;
    node.sole = undefined;
  }

  #create(topic: string): TopicNode {
    if (this.#count >= this.#sweepAt) this.#sweep();
    return this.#node(topic);
  }

  #node(topic: string): TopicNode {
    const existing = this.nodes[topic];
    if (existing !== undefined) return existing;
    const dot = topic.lastIndexOf('.');
    const parent = dot === -1 ? this.root : this.#node(topic.slice(0, dot));
    const node = new TopicNode(topic, parent);
    parent.children.push(node);
    this.nodes[topic] = node;
    this.#count++;
    return node;
  }

  /**
   * Forgets idle nodes (those only emitted to), so a bus fed endless distinct topics keeps bounded
   * memory. Runs when the node count doubles since the last sweep: amortised constant time per topic.
   */
  #sweep(): void {
    const prune = (node: TopicNode): void => {
      for (const child of node.children) prune(child);
      node.children = node.children.filter((child) => !child.idle);
    };
    prune(this.root);
    // A fresh table rather than `delete`, which would push the object out of fast mode.
    const table = newTable();
    let count = 0;
    const keep = (node: TopicNode): void => {
      for (const child of node.children) {
        table[child.topic] = child;
        count++;
        keep(child);
      }
    };
    keep(this.root);
    this.nodes = table;
    this.#count = count;
    this.#sweepAt = Math.max(SWEEP_FLOOR, count * 2);
  }

  /** Rebuilds the dispatch list of `node` and of every node below it. */
  #rebuild(node: TopicNode): void {
    const inherited = node.parent === undefined ? EMPTY : node.parent.dispatch;
    const own = node.own;
    const dispatch = own.length === 0 ? inherited : inherited.length === 0 ? own : own.concat(inherited);
    node.dispatch = dispatch;
    node.sole = node.schema === undefined ? soleCall(dispatch) : undefined;
    const children = node.children;
    for (let i = 0; i < children.length; i++) this.#rebuild(children[i] as TopicNode);
  }
}
