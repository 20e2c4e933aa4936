/** The broker's inner surface: what its parts (contexts, the invoker, the server, events) read from it. */
import type { Container } from '../container/index.ts';
import type { MessageHeaders, Transport } from '../transport/index.ts';
import type { CallOptions } from './call-options.ts';
import type { AnyContract } from './contract.ts';
import type { Meters } from './metrics.ts';
import type { Client } from './service-context.ts';
import type { TraceLink, Tracing } from './tracing.ts';

/** starting → ready → draining → stopped; every part reads this one state. */
export type BrokerState = 'starting' | 'ready' | 'draining' | 'stopped';

/** What a nested call takes from the call it is made in. */
export interface ParentCall {
  readonly depth: number;
  /** The milliseconds left before the call's deadline (fractional; negative once past it). */
  remainingMs(): number;
  readonly signal: AbortSignal;
  readonly meta: MessageHeaders;
  /** Where the call sits in a trace: what a nested call or event continues. */
  readonly trace: TraceLink | undefined;
}

export interface BrokerCore {
  readonly nodeId: string;
  readonly transport: Transport;
  readonly state: BrokerState;
  readonly defaultTimeoutMs: number;
  readonly maxCallDepth: number;
  readonly container: Container | undefined;
  /** The counters behind `metrics()` and the NATS Service API's stats. */
  readonly meters: Meters;
  /** Aborted when the broker's stop deadline passes: calls still running end then. */
  readonly stopSignal: AbortSignal;
  readonly tracing: Tracing;
  callByName(
    action: string,
    params: unknown,
    options: CallOptions | undefined,
    parent: ParentCall | undefined,
  ): Promise<unknown>;
  nestedClient<C extends AnyContract>(contract: C, parent: ParentCall | undefined): Client<C>;
  publishEvent(event: string, payload: unknown, broadcast: boolean, parent?: ParentCall): Promise<void>;
}
