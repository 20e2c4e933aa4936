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
import { defaultConcurrency, defaultMaxPending } from './delivery-limit.ts';
import { checkHeaders, type MessageHeaders } from './headers.ts';
import { jsonSerializer, type Serializer } from './serializer.ts';
import type {
  CloseOptions,
  PublishOptions,
  RequestManyOptions,
  RequestOptions,
  SubscribeOptions,
  TransportErrorHandler,
  TransportOptions,
} from './transport.ts';

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

const openKeys = [
  'serializer',
  'onError',
  'name',
  'signal',
  'connectTimeoutMs',
  // Checked by each engine (connection-options.ts): which of them applies depends on the engine.
  'tls',
  'token',
  'credsFile',
  'creds',
] as const;

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

const publishKeys = ['signal', 'headers'] as const;
const subscribeKeys = ['queue', 'signal', 'concurrency', 'maxPending', 'reply'] as const;
const requestKeys = ['timeoutMs', 'signal', 'headers'] as const;
const requestManyKeys = ['timeoutMs', 'maxReplies', 'stallMs', 'signal', 'headers'] as const;
const closeKeys = ['timeoutMs', 'signal'] as const;

/** publish()'s options after checks; undefined when none were given (the hot path allocates nothing). */
export interface ResolvedPublish {
  readonly signal: AbortSignal | undefined;
  readonly headers: MessageHeaders | undefined;
}

/** Checks publish()'s options. */
export function resolvePublish(options: PublishOptions | undefined): ResolvedPublish | undefined {
  if (options === undefined) return undefined;
  checkOptions('Transport.publish() options', options, publishKeys);
  checkSignal('Transport.publish() signal', options.signal);
  const headers = checkHeaders('Transport.publish() headers', options.headers);
  return { signal: options.signal, headers };
}

/** subscribe()'s options after checks and defaults. */
export interface ResolvedSubscribe {
  readonly queue: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly concurrency: number;
  readonly maxPending: number;
  /** Whether the handler answers requests (`reply` is not `false`). */
  readonly answers: boolean;
}

export function resolveSubscribe(options: SubscribeOptions | undefined): ResolvedSubscribe {
  checkOptions('Transport.subscribe() options', options, subscribeKeys);
  checkQueue(options?.queue);
  checkSignal('Transport.subscribe() signal', options?.signal);
  const concurrency = checkCount(
    'Transport.subscribe() concurrency',
    options?.concurrency ?? defaultConcurrency,
    { allowInfinity: true },
  );
  const maxPending = checkCount(
    'Transport.subscribe() maxPending',
    options?.maxPending ?? defaultMaxPending,
    {
      min: 0,
      allowInfinity: true,
    },
  );
  const answers = checkReply(options?.reply);
  return { queue: options?.queue, signal: options?.signal, concurrency, maxPending, answers };
}

/** request()'s or close()'s options after checks and defaults. */
export interface ResolvedDeadline {
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

/** request()'s options after checks and defaults. */
export interface ResolvedRequest extends ResolvedDeadline {
  readonly headers: MessageHeaders | undefined;
}

export function resolveRequest(options: RequestOptions | undefined): ResolvedRequest {
  checkOptions('Transport.request() options', options, requestKeys);
  const timeoutMs = checkCount('Transport.request() timeoutMs', options?.timeoutMs ?? 5000);
  checkSignal('Transport.request() signal', options?.signal);
  const headers = checkHeaders('Transport.request() headers', options?.headers);
  return { timeoutMs, signal: options?.signal, headers };
}

/** requestMany()'s options after checks and defaults. */
export interface ResolvedRequestMany extends ResolvedRequest {
  readonly maxReplies: number;
  readonly stallMs: number;
}

export function resolveRequestMany(options: RequestManyOptions | undefined): ResolvedRequestMany {
  checkOptions('Transport.requestMany() options', options, requestManyKeys);
  const timeoutMs = checkCount('Transport.requestMany() timeoutMs', options?.timeoutMs ?? 1000);
  const maxReplies = checkCount(
    'Transport.requestMany() maxReplies',
    // A bound on what one gathering holds, whatever answers: a flood of replies cannot grow it further.
    options?.maxReplies ?? 10_000,
    {
      allowInfinity: true,
    },
  );
  const stallMs = checkCount(
    'Transport.requestMany() stallMs',
    options?.stallMs ?? Number.POSITIVE_INFINITY,
    {
      allowInfinity: true,
    },
  );
  checkSignal('Transport.requestMany() signal', options?.signal);
  const headers = checkHeaders('Transport.requestMany() headers', options?.headers);
  return { timeoutMs, maxReplies, stallMs, signal: options?.signal, headers };
}

export function resolveClose(options: CloseOptions | undefined): ResolvedDeadline {
  checkOptions('Transport.close() options', options, closeKeys);
  checkSignal('Transport.close() signal', options?.signal);
  const timeoutMs = checkCount('Transport.close() timeoutMs', options?.timeoutMs ?? 10_000);
  return { timeoutMs, signal: options?.signal };
}

export function checkQueue(queue: unknown): void {
  if (queue !== undefined && (typeof queue !== 'string' || queue === '' || /[\s\0]/.test(queue))) {
    throw new InvalidArgumentError(
      `Transport.subscribe() queue must be a non-empty string without spaces; received ${describe(queue)}`,
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
