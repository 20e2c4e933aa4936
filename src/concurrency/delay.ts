/** The check shared by every option that is a delay in milliseconds. */
import { describe, InvalidArgumentError } from '../errors.ts';

/** The longest delay a Node timer can hold; a longer one would fire after 1 ms instead. */
export const MAX_DELAY = 2 ** 31 - 1;

/** Throws InvalidArgumentError unless `value` is a number of milliseconds in [0, MAX_DELAY]. */
export function checkDelay(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= MAX_DELAY)) {
    throw new InvalidArgumentError(
      `${name} must be a number of milliseconds from 0 to ${MAX_DELAY}; received ${describe(value)}`,
    );
  }
  return value;
}
