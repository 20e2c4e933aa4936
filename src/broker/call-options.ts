/** The options of one call (`client.x(params, options)`, `broker.call`, `ctx.call`): checked once, defaults applied once. */

import { reportUnhandled } from '../diagnostics.ts';
import {
  checkCount,
  checkDuration,
  checkFunction,
  checkOptions,
  checkSignal,
  describe,
  InvalidArgumentError,
} from '../errors.ts';
import { checkHeaders } from '../transport/headers.ts';
import type { MessageHeaders } from '../transport/index.ts';
import { TRACEPARENT, TRACESTATE, type TraceLink, traceOf } from './tracing.ts';
import { maxKeyLength } from './wire.ts';

export interface CallOptions {
  /**
   * How long the call may take, retries included. Inside a handler, the call gets at most the time its
   * own caller has left. Never unbounded: `Infinity` is refused.
   * @default the broker's `defaultTimeoutMs` (10000)
   */
  readonly timeoutMs?: number | undefined;
  /**
   * How long one try may wait for its reply. Past it the try is abandoned (the remote handler's
   * `ctx.signal` aborts) and, where retries are allowed, the call is tried again within `timeoutMs`:
   * what lets a call whose instance died or froze reach another one before its deadline.
   * @default the whole of `timeoutMs`
   */
  readonly attemptTimeoutMs?: number | undefined;
  /** Aborting rejects the call with `signal.reason`, and aborts the remote handler's `ctx.signal`. */
  readonly signal?: AbortSignal | undefined;
  /**
   * How many times to try again after a retryable failure; used only where the action is `idempotent`
   * or an `idempotencyKey` is given, and only within the deadline.
   * @default 2
   */
  readonly retries?: number | undefined;
  /** A key that makes a retry safe for an action that is not idempotent: the handler sees it as `ctx.idempotencyKey`. */
  readonly idempotencyKey?: string | undefined;
  /**
   * String values the handler sees as `ctx.meta` (auth tokens, tenant, request id); they travel as
   * transport headers, by the transport's header rules. Nested calls carry them on. A `traceparent`
   * (and `tracestate`) here is not meta: it is the W3C trace context the call continues (a gateway
   * passing on its HTTP request's), sent as such and kept out of `ctx.meta`.
   */
  readonly meta?: MessageHeaders | undefined;
  /**
   * Told the id of the broker whose handler answered, when the call succeeds (its own `nodeId` for a
   * call served in this process), just before the call resolves: a gateway names it in `X-Served-By`.
   * A failed call's error carries `nodeId` instead.
   */
  readonly onServed?: ((nodeId: string) => void) | undefined;
}

export interface ResolvedCall {
  readonly timeoutMs: number | undefined;
  readonly attemptTimeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly retries: number;
  readonly idempotencyKey: string | undefined;
  /** The caller's meta, frozen, without the trace context. */
  readonly meta: MessageHeaders | undefined;
  /** The trace context the caller's meta carried (a valid `traceparent`), to continue. */
  readonly trace: TraceLink | undefined;
  readonly onServed: ((nodeId: string) => void) | undefined;
}

const traceNames = [TRACEPARENT, TRACESTATE] as const;

const keys = [
  'timeoutMs',
  'attemptTimeoutMs',
  'signal',
  'retries',
  'idempotencyKey',
  'meta',
  'onServed',
] as const;
/**
 * The broker's method for a call whose options were checked where they were made (the gateway's): keyed
 * by this symbol, known inside Keel only, so it is no part of the broker's public face.
 */
export const callResolved: unique symbol = Symbol('keel.broker.callResolved');

/** How many times a call is tried again when `retries` is not given. */
export const defaultRetries = 2;

const none: ResolvedCall = {
  timeoutMs: undefined,
  attemptTimeoutMs: undefined,
  signal: undefined,
  retries: defaultRetries,
  idempotencyKey: undefined,
  meta: undefined,
  trace: undefined,
  onServed: undefined,
};

export function resolveCall(label: string, options: CallOptions | undefined): ResolvedCall {
  if (options === undefined) return none;
  checkOptions(`${label} options`, options, keys);
  const timeoutMs =
    options.timeoutMs === undefined
      ? undefined
      : checkDuration(`${label} timeoutMs`, options.timeoutMs, { min: 1, allowInfinity: false });
  const attemptTimeoutMs =
    options.attemptTimeoutMs === undefined
      ? undefined
      : checkDuration(`${label} attemptTimeoutMs`, options.attemptTimeoutMs, {
          min: 1,
          allowInfinity: false,
        });
  checkSignal(`${label} signal`, options.signal);
  const retries =
    options.retries === undefined
      ? defaultRetries
      : checkCount(`${label} retries`, options.retries, { min: 0 });
  const key = options.idempotencyKey;
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > maxKeyLength)) {
    throw new InvalidArgumentError(
      `${label} idempotencyKey must be a string of 1 to ${maxKeyLength} characters; received ${describe(key)}`,
    );
  }
  // The W3C trace context is not meta: it is checked with the rest, and kept apart as the trace to continue.
  const meta = checkHeaders(`${label} meta`, options.meta, traceNames);
  const given = options.meta as MessageHeaders | undefined;
  const trace =
    given !== undefined && (given[TRACEPARENT] !== undefined || given[TRACESTATE] !== undefined)
      ? traceOf(given)
      : undefined;
  if (options.onServed !== undefined) checkFunction(`${label} onServed`, options.onServed);
  return {
    timeoutMs,
    attemptTimeoutMs,
    signal: options.signal,
    retries,
    idempotencyKey: key,
    meta,
    trace,
    onServed: options.onServed,
  };
}

/** Tells the caller's `onServed` who answered; its failure is the caller's bug, not the call's. */
export function tellServed(options: ResolvedCall, nodeId: string): void {
  if (options.onServed === undefined) return;
  try {
    options.onServed(nodeId);
  } catch (error) {
    reportUnhandled('broker', 'a call option onServed', error);
  }
}
