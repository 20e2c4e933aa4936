/** Subject rules and wildcard matching, shared by every engine. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { checkSubject, hasWildcard, subjectMatcher } from './subject.ts';

describe('checkSubject', () => {
  it('accepts dot-separated tokens, and wildcards only where allowed', () => {
    for (const ok of ['a', 'orders.created', 'a-b_c.D9', 'ünï.cödé', '$SYS.x']) {
      expect(() => checkSubject('subject', ok, false)).not.toThrow();
      expect(() => checkSubject('subject', ok, true)).not.toThrow();
    }
    for (const ok of ['*', '>', 'a.*', 'a.>', '*.b.*', 'a.*.>']) {
      expect(() => checkSubject('subject', ok, true)).not.toThrow();
      expect(() => checkSubject('subject', ok, false)).toThrow(InvalidArgumentError);
    }
  });

  it('rejects empty tokens, spaces, partial wildcards and a > before the end', () => {
    for (const bad of [
      '',
      '.',
      'a.',
      '.a',
      'a..b',
      'a b',
      'a\tb',
      'a\nb',
      'a\0b',
      'a*',
      '*a',
      'a.b>',
      '>.a',
      'a.>.b',
    ]) {
      expect(() => checkSubject('subject', bad, true), JSON.stringify(bad)).toThrow(InvalidArgumentError);
    }
  });

  it('names the option, the rule and what came', () => {
    expect(() => checkSubject('subject', 7, false)).toThrow(
      'subject must be a non-empty string of dot-separated tokens without spaces, * or >; received 7',
    );
  });
});

describe('subjectMatcher', () => {
  it('matches * to exactly one token', () => {
    const m = subjectMatcher('a.*.c');
    expect(['a.b.c', 'a.x.c'].map(m)).toEqual([true, true]);
    expect(['a.c', 'a.b.b.c', 'a.b.c.d', 'x.b.c'].map(m)).toEqual([false, false, false, false]);
  });

  it('matches > to one or more trailing tokens', () => {
    const m = subjectMatcher('a.>');
    expect(['a.b', 'a.b.c.d'].map(m)).toEqual([true, true]);
    expect(['a', 'b.a'].map(m)).toEqual([false, false]);
    expect(subjectMatcher('>')('anything.at.all')).toBe(true);
  });

  it('matches exact subjects exactly', () => {
    const m = subjectMatcher('a.b');
    expect(['a.b', 'a.b.c', 'a'].map(m)).toEqual([true, false, false]);
    expect(hasWildcard('a.b')).toBe(false);
    expect(hasWildcard('a.*')).toBe(true);
  });
});
