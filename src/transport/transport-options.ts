/** The options every Transport accepts: checked once, defaults applied once. */

import { reportUnhandled } from '../diagnostics.ts';
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

// With no onError given, failures go to the one last-resort sink, with their code and cause.
const defaultOnError: TransportErrorHandler = (error, { subject }) => {
  reportUnhandled('transport', `on ${describe(subject)}`, error);
};

const openKeys = ['serializer', 'onError', 'name', 'signal', 'connectTimeoutMs'] as const;

/** Checks the options every engine accepts and applies their defaults. */
export function resolveOptions(options: TransportOptions | undefined): ResolvedOptions {
  checkOptions('openTransport() options', options, openKeys);
  const serializer = options?.serializer ?? jsonSerializer;
  if (
    typeof serializer !== 'object' ||
    serializer === null ||
    typeof serializer.encode !== 'function' ||
    typeof serializer.decode !== 'function' ||
    typeof serializer.name !== 'string'
  ) {
    throw new InvalidArgumentError(
      `openTransport() serializer must be an object with name, encode(value) and decode(bytes); received ${describe(serializer)}`,
    );
  }
  if (options?.onError !== undefined) checkFunction('openTransport() onError', options.onError);
  // Redis refuses client names with spaces; one rule for every engine.
  if (options?.name !== undefined && (typeof options.name !== 'string' || !/^\S+$/.test(options.name))) {
    throw new InvalidArgumentError(
      `openTransport() name must be a non-empty string without spaces; received ${describe(options.name)}`,
    );
  }
  checkSignal('openTransport() signal', options?.signal);
  const connectTimeoutMs = checkCount('openTransport() connectTimeoutMs', options?.connectTimeoutMs ?? 5000);
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
      `Transport.subscribe() queue must be a non-empty string without spaces; received ${describe(queue)}`,
    );
  }
}
