/** ServiceContext: what a handler gets besides its params — who called, how long it has, how to call further. */
import type { Container } from '../container/index.ts';
import type { MessageHeaders } from '../transport/index.ts';
import type { CallOptions } from './call-options.ts';
import type { AnyContract, ParamsIn, ResultOut } from './contract.ts';

/** A typed client of one contract: one method per action. */
export type Client<C extends AnyContract> = {
  readonly [A in keyof C['actions']]: (
    params: ParamsIn<C['actions'][A]>,
    options?: CallOptions,
  ) => Promise<ResultOut<C['actions'][A]>>;
};

export interface ServiceContext {
  /** The id of the broker serving the call. */
  readonly nodeId: string;
  /** The action served, `<contract>.<action>` (or the event, `<contract>.<event>`, for a listener). */
  readonly action: string;
  /** The id of the calling broker, when it said. */
  readonly callerNodeId: string | undefined;
  /** 1 for a call from outside a handler, one more for each nested call. */
  readonly depth: number;
  /** When the call's budget runs out, in local `Date.now()` milliseconds. */
  readonly deadline: number;
  /**
   * Aborts when the caller aborts or gives up, when the deadline passes, or when the broker stops past
   * its grace. Pass it to the work the handler starts.
   */
  readonly signal: AbortSignal;
  /** The caller's `meta`. */
  readonly meta: MessageHeaders;
  /** The caller's `idempotencyKey`, if it gave one. */
  readonly idempotencyKey: string | undefined;
  /**
   * The W3C trace id (32 hex digits) of the trace this call belongs to, for logs: the caller's, passed
   * on; undefined when the call carries no trace context (or the broker's `tracing` is off).
   */
  readonly traceId: string | undefined;
  /** With a broker `container`: this call's own scope, disposed when the call ends. */
  readonly scope: Container | undefined;
  /**
   * Calls another action by name with the time this call has left (never more), its `meta`, one more
   * level of depth, and its signal.
   */
  call(action: string, params?: unknown, options?: CallOptions): Promise<unknown>;
  /** A typed client whose calls are nested in this one, as `call` is. */
  client<C extends AnyContract>(contract: C): Client<C>;
  /** Emits an event (see `Broker.emit`). */
  emit(event: string, payload?: unknown): Promise<void>;
  /** Broadcasts an event (see `Broker.broadcast`). */
  broadcast(event: string, payload?: unknown): Promise<void>;
}
