/** Typed tokens: the keys a Container resolves, carrying the type of what they stand for. */
import { describe, InvalidArgumentError } from '../errors.ts';

declare const type: unique symbol;

/**
 * A key for the container, typed with what it resolves to. Tokens compare by identity: two tokens with the
 * same name are different keys; the name is for messages only.
 */
export class Token<T> {
  /** Carries `T` for the type checker only; no such property exists at run time. */
  declare readonly [type]: T;
  /** The name shown in error messages and disposal reports. */
  readonly name: string;

  constructor(name: string) {
    if (typeof name !== 'string' || name === '') {
      throw new InvalidArgumentError(`token name must be a non-empty string; received ${describe(name)}`);
    }
    this.name = name;
    Object.freeze(this);
  }

  toString(): string {
    return `Token(${this.name})`;
  }
}

/**
 * Creates a typed token: `const Db = token<Database>('db')`. No decorators, no reflection: the type
 * travels with the token.
 */
export function token<T>(name: string): Token<T> {
  return new Token<T>(name);
}
