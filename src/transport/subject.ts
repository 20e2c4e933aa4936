/**
 * Subjects: dot-separated tokens (`orders.created`), the common ground of NATS subjects and Redis
 * channels. Subscriptions may use `*` (one token) and a final `>` (one or more tokens), as NATS does.
 */
import { describe, InvalidArgumentError } from '../errors.ts';

/** A token: one or more characters that are not whitespace, NUL, a dot or a wildcard. */
const token = '[^\\s\\0.*>]+';
const exact = new RegExp(`^${token}(?:\\.${token})*$`);
const pattern = new RegExp(`^(?:(?:${token}|\\*)(?:\\.(?:${token}|\\*))*(?:\\.>)?|>)$`);

/**
 * The longest subject, in bytes of UTF-8. A NATS server reads a protocol line of at most 4 KiB (subject,
 * reply subject and size included) and drops the connection past it; 1 KiB leaves room for the rest and
 * is far beyond any subject people write.
 */
export const MAX_SUBJECT_BYTES = 1024;

/**
 * Throws InvalidArgumentError unless `subject` is a valid subject. Wildcards are allowed only when
 * `wildcards` is true (subscriptions); a subject to publish to names one exact subject.
 */
export function checkSubject(name: string, subject: unknown, wildcards: boolean): asserts subject is string {
  // One precompiled pattern per case: subjects are checked on every publish.
  if (typeof subject === 'string' && (wildcards ? pattern : exact).test(subject)) {
    // A UTF-16 unit is at most 3 bytes of UTF-8, so only a long subject needs counting.
    if (subject.length * 3 <= MAX_SUBJECT_BYTES || Buffer.byteLength(subject) <= MAX_SUBJECT_BYTES) return;
    throw new InvalidArgumentError(
      `${name} must be at most ${MAX_SUBJECT_BYTES} bytes long; received one of ${Buffer.byteLength(subject)} bytes`,
    );
  }
  const rule = wildcards
    ? 'a non-empty string of dot-separated tokens without spaces, where * may stand for a whole token and > for the whole last one'
    : 'a non-empty string of dot-separated tokens without spaces, * or >';
  throw new InvalidArgumentError(`${name} must be ${rule}; received ${describe(subject)}`);
}

/** Whether a subscription subject contains a wildcard token. */
export function hasWildcard(pattern: string): boolean {
  return pattern.split('.').some((t) => t === '*' || t === '>');
}

/** Compiles a subscription subject into a predicate over published subjects. */
export function subjectMatcher(pattern: string): (subject: string) => boolean {
  if (!hasWildcard(pattern)) return (subject) => subject === pattern;
  const want = pattern.split('.');
  const tail = want[want.length - 1] === '>';
  const fixed = tail ? want.length - 1 : want.length;
  return (subject) => {
    const got = subject.split('.');
    if (tail ? got.length <= fixed : got.length !== fixed) return false;
    for (let i = 0; i < fixed; i++) {
      if (want[i] !== '*' && want[i] !== got[i]) return false;
    }
    return true;
  };
}
