/** The checks of bridgeEvents()'s options that need more than a type test: prefix, topics, serializer. */
import { describe, InvalidArgumentError } from '../errors.ts';
import { checkTopic } from '../events/topics.ts';
import type { Serializer } from './serializer.ts';
import { checkSubject } from './subject.ts';

/**
 * Throws InvalidArgumentError unless `prefix` is an exact subject outside those a bridge must not use:
 * where engines send replies (NATS `_INBOX.`, Keel's Redis `_KEEL_INBOX.`), and NATS system subjects
 * (every first token starting with `$`: `$SYS`, `$JS`, `$SRV`, `$KV`…). A bridge there would receive
 * replies meant for requesters, or system traffic.
 */
export function checkPrefix(prefix: unknown): asserts prefix is string {
  checkSubject('bridgeEvents() prefix', prefix, false);
  const first = prefix.split('.', 1)[0] as string;
  let reserved: string | undefined;
  if (first.startsWith('_INBOX')) reserved = `under "_INBOX" (where NATS requesters receive their replies)`;
  else if (first.startsWith('_KEEL_INBOX')) {
    reserved = `under "_KEEL_INBOX" (where Redis requesters receive their replies)`;
  } else if (first.startsWith('$')) {
    reserved = `start with "$" (NATS keeps those subjects for the system: $SYS, $JS, $SRV, $KV…)`;
  }
  if (reserved !== undefined) {
    throw new InvalidArgumentError(
      `bridgeEvents() prefix must not be ${reserved}; received ${describe(prefix)}`,
    );
  }
}

/** The shared topics, each checked; a topic already covered by another in the list is left out. */
export function checkTopics(prefix: string, topics: unknown): readonly string[] | undefined {
  if (topics === undefined) return undefined;
  if (!Array.isArray(topics) || topics.length === 0) {
    throw new InvalidArgumentError(
      `bridgeEvents() topics must be a non-empty array of topics (leave it out to share every topic); received ${describe(topics)}`,
    );
  }
  const checked = topics.map((topic: unknown, i) => {
    const name = `bridgeEvents() topics[${i}]`;
    checkTopic(name, topic, false);
    checkSubject(`${name} (as the subject "${prefix}.<topic>")`, `${prefix}.${topic}`, false);
    return topic;
  });
  // A topic already covered by another in the list (itself, or an ancestor) would only subscribe twice.
  const covers = (outer: string, inner: string) => inner === outer || inner.startsWith(`${outer}.`);
  return checked.filter(
    (topic, i) => !checked.some((other, j) => j !== i && covers(other, topic) && (other !== topic || j < i)),
  );
}

/** The bridge's own serializer, when one is given. */
export function checkSerializer(serializer: unknown): Serializer | undefined {
  if (serializer === undefined) return undefined;
  const s = serializer as Partial<Serializer> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.encode !== 'function' ||
    typeof s.decode !== 'function' ||
    typeof s.name !== 'string' ||
    s.name === ''
  ) {
    throw new InvalidArgumentError(
      `bridgeEvents() serializer must be an object with a non-empty name, encode(value) and decode(bytes); received ${describe(serializer)}`,
    );
  }
  return s as Serializer;
}
