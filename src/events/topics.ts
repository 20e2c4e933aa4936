/** Topics: dotted names forming a tree, the types that follow the tree, and the check on a topic's spelling. */
import { describe, InvalidArgumentError } from '../errors.ts';

/** The topic that receives every event. */
export const ALL = '*';

/** Every proper prefix of a dotted topic: `'a.b.c'` gives `'a' | 'a.b'`. */
export type Ancestors<T extends string> = T extends `${infer Head}.${infer Rest}`
  ? Head | `${Head}.${Ancestors<Rest>}`
  : never;

/** The topics that may be emitted: the keys of the event map. */
export type EmitTopic<Events> = Exclude<keyof Events & string, typeof ALL>;

/** The topics that may be listened to: every emitted topic, each of its ancestors, and `"*"`. */
export type Topic<Events> = EmitTopic<Events> | Ancestors<EmitTopic<Events>> | typeof ALL;

/** The emitted topics a listener of `T` receives: `T` itself and its descendants (all of them for `"*"`). */
export type Reached<Events, T extends string> =
  string extends EmitTopic<Events>
    ? EmitTopic<Events>
    : T extends typeof ALL
      ? EmitTopic<Events>
      : { [K in EmitTopic<Events>]: K extends T | `${T}.${string}` ? K : never }[EmitTopic<Events>];

/** The payload a listener of `T` receives: the union of the payloads of every topic it reaches. */
export type Payload<Events, T extends string> = Events[Reached<Events, T> & keyof Events];

/**
 * A listener of `T`: called with the payload and the topic that was emitted. (The two are not correlated
 * in the type: a union of argument tuples would refuse listeners that take only the payload.)
 */
export type Listener<Events, T extends string> = (
  payload: Payload<Events, T>,
  topic: Reached<Events, T>,
) => unknown;

/** The arguments after the topic in `emit`: the payload, which may be left out where it may be undefined. */
export type PayloadArgs<P> = undefined extends P ? [payload?: P] : [payload: P];

/**
 * Throws InvalidArgumentError unless `topic` is a well-formed topic: non-empty segments joined by dots,
 * `"*"` being reserved for the whole tree (and accepted only where `allowAll` says so).
 */
export function checkTopic(name: string, topic: unknown, allowAll: boolean): asserts topic is string {
  if (typeof topic === 'string') {
    if (topic === ALL) {
      if (allowAll) return;
      throw new InvalidArgumentError(
        `${name} must be a topic that can be emitted; "*" only listens to every topic`,
      );
    }
    if (topic !== '' && topic.split('.').every((s) => s !== '' && s !== ALL)) return;
  }
  throw new InvalidArgumentError(
    `${name} must be a topic: non-empty segments joined by dots, such as "user.created" (a segment cannot be "*"); received ${describe(topic)}`,
  );
}
