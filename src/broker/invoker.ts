/** Invoker: the calling side — deadlines, depth, retries, middleware, and the local short-circuit or the wire. */
import { tracingChannel } from 'node:diagnostics_channel';
import { clearLongTimeout, onAbort, setLongTimeout } from '../abort.ts';
import { sleep } from '../concurrency/index.ts';
import { KeelError } from '../errors.ts';
import { type MessageHeaders, RemoteHandlerError, TransportTimeoutError } from '../transport/index.ts';
import {
  BrokerProtocolError,
  BrokerStoppedError,
  CallDepthError,
  DeadlineExceededError,
  RemoteError,
} from './broker-errors.ts';
import type { ResolvedCall } from './call-options.ts';
import type { CompiledAction } from './contract.ts';
import type { BrokerCore, ParentCall } from './core.ts';
import { type CallMiddleware, type CallRequest, runLayers } from './middleware.ts';
import type { Server } from './server.ts';
import { decodeReply, encodeCall } from './wire.ts';
import { fromWireError, toWireError } from './wire-errors.ts';

/** Publishes `{ action, nodeId, local }` around each outgoing call when someone listens. */
const callChannel = tracingChannel('keel:broker.call');

/** Backoff between attempts: full jitter over an exponential ceiling (50 ms, 100 ms, … up to 1 s). */
function backoff(attempt: number): number {
  return Math.random() * Math.min(1000, 50 * 2 ** attempt);
}

export class Invoker {
  /** Outgoing calls not settled yet; stop() waits for them. */
  readonly running = new Set<Promise<unknown>>();
  readonly #core: BrokerCore;
  readonly #server: Server;
  readonly #middleware: readonly CallMiddleware[];
  readonly #preferLocal: boolean;

  constructor(core: BrokerCore, server: Server, middleware: readonly CallMiddleware[], preferLocal: boolean) {
    this.#core = core;
    this.#server = server;
    this.#middleware = middleware;
    this.#preferLocal = preferLocal;
  }

  /** Calls `action` with the resolved options, as a nested call of `parent` when there is one. */
  call(
    action: CompiledAction,
    params: unknown,
    options: ResolvedCall,
    parent: ParentCall | undefined,
  ): Promise<unknown> {
    const core = this.#core;
    const { state } = core;
    // Handlers still finishing while the broker drains may call further; nothing new starts from outside.
    if (state === 'stopped' || (state !== 'ready' && parent === undefined)) {
      return Promise.reject(new BrokerStoppedError(`call ${JSON.stringify(action.key)}`, core.nodeId));
    }
    const depth = (parent?.depth ?? 0) + 1;
    if (depth > core.maxCallDepth) {
      return Promise.reject(new CallDepthError(action.key, depth, core.maxCallDepth, core.nodeId));
    }
    const asked = options.timeoutMs ?? core.defaultTimeoutMs;
    const left = parent === undefined ? asked : Math.min(asked, Math.floor(parent.deadline - Date.now()));
    // No budget left: the call is not sent at all.
    if (!(left >= 1)) return Promise.reject(new DeadlineExceededError(action.key, 0));
    const deadline = Date.now() + left;
    const signal = combine(options.signal, parent?.signal, core.stopSignal);
    const meta: Record<string, string> = { ...parent?.meta, ...options.meta };
    const request: CallRequest = { action: action.key, params, meta, depth, nodeId: core.nodeId };
    const local = this.#preferLocal ? this.#server.local.get(action.subject) : undefined;
    const attempts = () =>
      this.#attempts(action, request, options, deadline, left, signal, local !== undefined);
    const run = () => runLayers(this.#middleware, (layer, next) => layer(request, next), attempts);
    const work = callChannel.hasSubscribers
      ? callChannel.tracePromise(run, { action: action.key, nodeId: core.nodeId, local: local !== undefined })
      : run();
    this.running.add(work);
    const forget = () => this.running.delete(work);
    work.then(forget, forget);
    return work;
  }

  async #attempts(
    action: CompiledAction,
    request: CallRequest,
    options: ResolvedCall,
    deadline: number,
    budget: number,
    signal: AbortSignal,
    local: boolean,
  ): Promise<unknown> {
    const safe = action.spec.idempotent === true || options.idempotencyKey !== undefined;
    const retries = safe ? options.retries : 0;
    const meta = Object.keys(request.meta).length === 0 ? undefined : Object.freeze({ ...request.meta });
    for (let attempt = 0; ; attempt++) {
      const left = Math.floor(deadline - Date.now());
      if (!(left >= 1)) throw new DeadlineExceededError(action.key, budget);
      try {
        return local
          ? await this.#local(action, request, options, left, signal, meta)
          : await this.#remote(action, request, options, left, signal, meta, budget);
      } catch (error) {
        const again =
          attempt < retries &&
          !signal.aborted &&
          error instanceof KeelError &&
          error.retryable &&
          !(error instanceof DeadlineExceededError && error.nodeId === undefined);
        if (!again) throw error;
        const pause = backoff(attempt);
        if (Date.now() + pause >= deadline) throw error;
        await sleep(pause, { signal });
      }
    }
  }

  async #remote(
    action: CompiledAction,
    request: CallRequest,
    options: ResolvedCall,
    timeoutMs: number,
    signal: AbortSignal,
    meta: MessageHeaders | undefined,
    budget: number,
  ): Promise<unknown> {
    const core = this.#core;
    const envelope = encodeCall({
      params: request.params,
      depth: request.depth,
      key: options.idempotencyKey,
      caller: core.nodeId,
    });
    let reply: unknown;
    try {
      reply = await core.transport.request(action.subject, envelope, { timeoutMs, signal, headers: meta });
    } catch (error) {
      if (error instanceof TransportTimeoutError)
        throw new DeadlineExceededError(action.key, budget, { cause: error });
      // The responder's transport failed before the broker could answer (its reply did not encode, say).
      if (error instanceof RemoteHandlerError) {
        throw new RemoteError(
          action.key,
          {
            code: error.remoteCode,
            name: error.remoteName,
            message: error.message,
            retryable: error.retryable,
          },
          { cause: error },
        );
      }
      throw error;
    }
    const decoded = decodeReply(reply);
    if (!decoded.ok) throw new BrokerProtocolError(action.subject, decoded.reason);
    if (decoded.value.ok) return decoded.value.result;
    throw fromWireError(action.key, decoded.value.error);
  }

  /** Serves the call in this process: no wire, the same validation, deadline, signal and error shapes. */
  #local(
    action: CompiledAction,
    request: CallRequest,
    options: ResolvedCall,
    timeoutMs: number,
    signal: AbortSignal,
    meta: MessageHeaders | undefined,
  ): Promise<unknown> {
    const served = this.#server.local.get(action.subject);
    if (served === undefined)
      return Promise.reject(new BrokerStoppedError(`serve ${JSON.stringify(action.key)}`));
    signal.throwIfAborted();
    const core = this.#core;
    const control = new AbortController();
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const stop = (reason: unknown) => {
        finish();
        control.abort(reason);
        reject(reason);
      };
      let timer: ReturnType<typeof setLongTimeout> | undefined;
      let unwatch: (() => void) | undefined;
      const finish = () => {
        clearLongTimeout(timer);
        unwatch?.();
      };
      timer = setLongTimeout(() => stop(new DeadlineExceededError(action.key, timeoutMs)), timeoutMs);
      unwatch = onAbort(signal, () => stop(signal.reason));
      this.#server
        .run(served, request.params, {
          depth: request.depth,
          key: options.idempotencyKey,
          caller: core.nodeId,
          meta: meta ?? noMeta,
          deadline,
          source: () => control.signal,
        })
        .then(
          (result) => {
            finish();
            resolve(result);
          },
          (error: unknown) => {
            finish();
            // The same error a remote caller would get: what crosses the wire, and nothing more.
            reject(fromWireError(action.key, toWireError(error, core.nodeId, served.exposeStack)));
          },
        );
    });
  }
}

const noMeta: MessageHeaders = Object.freeze({});

/** One signal for every reason a call may end early. */
function combine(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  return present.length === 1 ? (present[0] as AbortSignal) : AbortSignal.any(present);
}
