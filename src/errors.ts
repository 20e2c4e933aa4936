/** The ground floor: KeelError, the base of every error Keel throws, and the shared argument checks. */

/** Every code Keel uses has the form `KEEL_<WHAT>`; `docs/errors.md` lists each one. */
export type KeelErrorCode = `KEEL_${string}`;

export interface KeelErrorOptions {
  /** The underlying error, when there is one. */
  readonly cause?: unknown;
  /**
   * Whether the same call may succeed if tried again (a lost connection, a timeout).
   * @default false
   */
  readonly retryable?: boolean;
}

/** The base class of Keel's errors: match on `instanceof` or on the stable `code`, never on the message. */
export class KeelError extends Error {
  readonly code: KeelErrorCode;
  readonly retryable: boolean;

  constructor(code: KeelErrorCode, message: string, options: KeelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** A function or constructor was called with an argument or option outside what it accepts. */
export class InvalidArgumentError extends KeelError {
  constructor(message: string, options: KeelErrorOptions = {}) {
    super('KEEL_INVALID_ARGUMENT', message, options);
  }
}

/** Renders a received value for an error message: short, unambiguous, never throwing. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) {
    return Object.is(value, -0) ? '-0' : String(value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  return name && name !== 'Object' ? `an instance of ${name}` : 'an object';
}

/** Throws InvalidArgumentError unless `value` is an integer ≥ `min`, or Infinity when allowed. */
export function checkCount(
  name: string,
  value: unknown,
  { min = 1, allowInfinity = false }: { min?: number; allowInfinity?: boolean } = {},
): number {
  const ok =
    typeof value === 'number' &&
    ((Number.isInteger(value) && value >= min) || (allowInfinity && value === Number.POSITIVE_INFINITY));
  if (!ok) {
    const range = `an integer ≥ ${min}${allowInfinity ? ' or Infinity' : ''}`;
    throw new InvalidArgumentError(`${name} must be ${range}; received ${describe(value)}`);
  }
  return value;
}

/** Throws InvalidArgumentError unless `value` is a function. */
export function checkFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') {
    throw new InvalidArgumentError(`${name} must be a function; received ${describe(value)}`);
  }
}

/** Throws InvalidArgumentError unless `value` is an AbortSignal (or undefined). */
export function checkSignal(name: string, value: unknown): void {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw new InvalidArgumentError(`${name} must be an AbortSignal; received ${describe(value)}`);
  }
}

/**
 * Throws InvalidArgumentError unless `value` is a plain options object or undefined (which means the
 * defaults). With `known`, every own key must be one of them: a typo such as `maxQueue` for `maxQueued` is
 * refused by name rather than silently ignored. `label` names the call (`Pool options`,
 * `Transport.publish() options`), so the message says where the mistake is.
 */
export function checkOptions(label: string, value: unknown, known?: readonly string[]): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${label} must be an options object; received ${describe(value)}`);
  }
  if (known === undefined) return;
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const list = known.length === 0 ? 'none' : known.join(', ');
      throw new InvalidArgumentError(
        `${label}: unknown option ${JSON.stringify(key)}; known options: ${list}`,
      );
    }
  }
}

/**
 * Throws InvalidArgumentError unless `value` is a duration in milliseconds: a finite number ≥ `min`, or
 * Infinity when allowed (meaning "no limit"). Any finite duration is valid however long; timers longer
 * than a platform timer can hold are chained by `setLongTimeout`, never wrapped to 1 ms.
 */
export function checkDuration(
  label: string,
  value: unknown,
  {
    min = 0,
    max = Number.POSITIVE_INFINITY,
    allowInfinity = true,
  }: { min?: number; max?: number; allowInfinity?: boolean } = {},
): number {
  const ok =
    typeof value === 'number' &&
    ((Number.isFinite(value) && value >= min && value <= max) ||
      (allowInfinity && value === Number.POSITIVE_INFINITY));
  if (!ok) {
    const upTo = Number.isFinite(max) ? ` and ≤ ${max}` : '';
    const range = `a number of milliseconds ≥ ${min}${upTo}${allowInfinity ? ' or Infinity' : ''}`;
    throw new InvalidArgumentError(`${label} must be ${range}; received ${describe(value)}`);
  }
  return value;
}
