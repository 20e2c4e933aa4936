/** CallContext: the ServiceContext of one served call — its deadline, its signal (made on first read), its scope. */
import { clearLongTimeout, type LongTimer, onAbort, setLongTimeout } from '../abort.ts';
import type { Container } from '../container/index.ts';
import type { MessageHeaders } from '../transport/index.ts';
import { DeadlineExceededError } from './broker-errors.ts';
import type { CallOptions } from './call-options.ts';
import type { AnyContract } from './contract.ts';
import type { BrokerCore, ParentCall } from './core.ts';
import type { Client, ServiceContext } from './service-context.ts';
import { type TraceLink, traceIdOf } from './tracing.ts';

/** What the serving side knows of a call when it arrives. */
export interface Inbound {
  readonly depth: number;
  readonly key: string | undefined;
  readonly caller: string | undefined;
  readonly meta: MessageHeaders;
  /** The caller's deadline (local ms), Infinity when it gave none. */
  readonly deadline: number;
  /** The caller's side of cancellation (the transport's meta.signal, or a local call's own); read lazily. */
  readonly source: (() => AbortSignal) | undefined;
  /** The caller's trace context (from the `traceparent` and `tracestate` headers, or a local caller's span). */
  readonly trace?: TraceLink | undefined;
}

export class CallContext implements ServiceContext, ParentCall {
  readonly nodeId: string;
  readonly action: string;
  readonly callerNodeId: string | undefined;
  readonly depth: number;
  readonly deadline: number;
  readonly meta: MessageHeaders;
  readonly idempotencyKey: string | undefined;
  readonly scope: Container | undefined;
  readonly trace: TraceLink | undefined;
  readonly #core: BrokerCore;
  readonly #source: (() => AbortSignal) | undefined;
  /** Whether the deadline is this side's own cap (tighter than the caller's), so this side must time it. */
  readonly #capped: boolean;
  readonly #capMs: number;
  #controller: AbortController | undefined;
  #timer: LongTimer | undefined;
  #unwatch: (() => void)[] = [];
  #ended = false;

  constructor(
    core: BrokerCore,
    action: string,
    inbound: Inbound,
    capMs: number,
    scope: Container | undefined,
    trace?: TraceLink | undefined,
  ) {
    this.#core = core;
    this.nodeId = core.nodeId;
    this.action = action;
    this.callerNodeId = inbound.caller;
    this.depth = inbound.depth;
    this.meta = inbound.meta;
    this.idempotencyKey = inbound.key;
    this.scope = scope;
    this.trace = trace;
    this.#source = inbound.source;
    this.#capMs = capMs;
    const cap = Date.now() + capMs;
    this.#capped = cap < inbound.deadline;
    this.deadline = this.#capped ? cap : inbound.deadline;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      const abort = (reason: unknown) => {
        this.#stopWatching();
        controller.abort(reason);
      };
      const stop = this.#core.stopSignal;
      const source = this.#source?.();
      if (stop.aborted) abort(stop.reason);
      else if (source?.aborted) abort(source.reason);
      else if (this.#capped && Date.now() >= this.deadline) abort(this.#expired());
      else if (!this.#ended) {
        this.#unwatch.push(onAbort(stop, () => abort(stop.reason)));
        if (source !== undefined) this.#unwatch.push(onAbort(source, () => abort(source.reason)));
        if (this.#capped && Number.isFinite(this.deadline)) {
          this.#timer = setLongTimeout(() => abort(this.#expired()), this.deadline - Date.now());
        }
      }
    }
    return this.#controller.signal;
  }

  remainingMs(): number {
    return this.deadline - Date.now();
  }

  get traceId(): string | undefined {
    return this.trace === undefined ? undefined : traceIdOf(this.trace);
  }

  /** Whether this side must enforce the deadline (an action `timeoutMs` tighter than the caller's budget). */
  get capped(): boolean {
    return this.#capped;
  }

  /** The call is over: no timer or listener is left behind. */
  end(): void {
    this.#ended = true;
    this.#stopWatching();
  }

  call(action: string, params?: unknown, options?: CallOptions): Promise<unknown> {
    return this.#core.callByName(action, params, options, this);
  }

  client<C extends AnyContract>(contract: C): Client<C> {
    return this.#core.nestedClient(contract, this);
  }

  emit(event: string, payload?: unknown): Promise<void> {
    return this.#core.publishEvent(event, payload, false, this);
  }

  broadcast(event: string, payload?: unknown): Promise<void> {
    return this.#core.publishEvent(event, payload, true, this);
  }

  #expired(): DeadlineExceededError {
    return new DeadlineExceededError(this.action, this.#capMs, { nodeId: this.nodeId });
  }

  #stopWatching(): void {
    clearLongTimeout(this.#timer);
    this.#timer = undefined;
    for (const unwatch of this.#unwatch) unwatch();
    this.#unwatch = [];
  }
}
