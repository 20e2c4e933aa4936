/**
 * Subjects: dot-separated tokens (`orders.created`), the common ground of NATS subjects and Redis
 * channels. Subscriptions may use `*` (one token) and a final `>` (one or more tokens), as NATS does.
 */
import { describe, InvalidArgumentError } from '../errors.ts';

const forbidden = /[\s\0]/;

/**
 * Throws InvalidArgumentError unless `subject` is a valid subject. Wildcards are allowed only when
 * `wildcards` is true (subscriptions); a subject to publish to names one exact subject.
 */
export function checkSubject(name: string, subject: unknown, wildcards: boolean): asserts subject is string {
  const rule = wildcards
    ? 'a non-empty string of dot-separated tokens without spaces, where * may stand for a whole token and > for the whole last one'
    : 'a non-empty string of dot-separated tokens without spaces, * or >';
  const fail = () => new InvalidArgumentError(`${name} must be ${rule}; received ${describe(subject)}`);
  if (typeof subject !== 'string' || subject === '' || forbidden.test(subject)) throw fail();
  const tokens = subject.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token === '') throw fail();
    if (token === '*' || token === '>') {
      if (!wildcards || (token === '>' && i !== tokens.length - 1)) throw fail();
    } else if (token.includes('*') || token.includes('>')) {
      throw fail();
    }
  }
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
