/** The options every Transport accepts: checked once, defaults applied once. */
import {
  checkCount,
  checkFunction,
  checkOptions,
  checkSignal,
  describe,
  InvalidArgumentError,
} from '../errors.ts';
import { jsonSerializer, type Serializer } from './serializer.ts';
import type { TransportErrorHandler, TransportOptions } from './transport.ts';

/** Settings after defaults, shared by every engine. */
export interface ResolvedOptions {
  readonly serializer: Serializer;
  readonly onError: TransportErrorHandler;
  readonly name: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly connectTimeoutMs: number;
}

const defaultOnError: TransportErrorHandler = (error, { subject }) => {
  console.error(`[keel transport] ${subject}: ${error.name} [${error.code}]: ${error.message}`);
};

/** Checks the options every engine accepts and applies their defaults. */
export function resolveOptions(options: TransportOptions | undefined): ResolvedOptions {
  checkOptions('transport options', options);
  const serializer = options?.serializer ?? jsonSerializer;
  if (
    typeof serializer !== 'object' ||
    serializer === null ||
    typeof serializer.encode !== 'function' ||
    typeof serializer.decode !== 'function' ||
    typeof serializer.name !== 'string'
  ) {
    throw new InvalidArgumentError(
      `serializer must be an object with name, encode(value) and decode(bytes); received ${describe(serializer)}`,
    );
  }
  if (options?.onError !== undefined) checkFunction('onError', options.onError);
  // Redis refuses client names with spaces; one rule for every engine.
  if (options?.name !== undefined && (typeof options.name !== 'string' || !/^\S+$/.test(options.name))) {
    throw new InvalidArgumentError(
      `name must be a non-empty string without spaces; received ${describe(options.name)}`,
    );
  }
  checkSignal('signal', options?.signal);
  const connectTimeoutMs = checkCount('connectTimeoutMs', options?.connectTimeoutMs ?? 5000);
  return {
    serializer,
    onError: options?.onError ?? defaultOnError,
    name: options?.name,
    signal: options?.signal,
    connectTimeoutMs,
  };
}

export function checkQueue(queue: unknown): void {
  if (queue !== undefined && (typeof queue !== 'string' || queue === '' || /[\s\0]/.test(queue))) {
    throw new InvalidArgumentError(
      `queue must be a non-empty string without spaces; received ${describe(queue)}`,
    );
  }
}

/** The subscribe option `reply`: whether the handler answers requests (true unless `false`). */
export function checkReply(reply: unknown): boolean {
  if (reply !== undefined && typeof reply !== 'boolean') {
    throw new InvalidArgumentError(
      `Transport.subscribe() reply must be a boolean; received ${describe(reply)}`,
    );
  }
  return reply !== false;
}
