/** Server: the serving side of a broker — subscriptions per action, and the pipeline every served call runs. */
import { tracingChannel } from 'node:diagnostics_channel';
import { raceAbort } from '../abort.ts';
import { reportUnhandled } from '../diagnostics.ts';
import { describe } from '../errors.ts';
import type { MessageMeta, TransportSubscription } from '../transport/index.ts';
import { BrokerProtocolError } from './broker-errors.ts';
import { Bulkhead } from './bulkhead.ts';
import { CallContext, type Inbound } from './call-context.ts';
import type { BrokerCore } from './core.ts';
import { runLayers, type ServeMiddleware } from './middleware.ts';
import type { CompiledService, ServedAction } from './service.ts';
import { traceOf, withoutTrace } from './tracing.ts';
import { serveChecked, validate } from './validate.ts';
import { decodeCall, decodeEvent, encodeReply } from './wire.ts';
import { toWireError } from './wire-errors.ts';

/** What a served call's outcome becomes: the reply a remote caller gets. */
interface Answer {
  ok(result: unknown): unknown;
  failed(error: unknown): unknown;
}

/** Publishes `{ action, nodeId, ctx }` around each served call (local or remote) when someone listens. */
const serveChannel = tracingChannel('keel:broker.serve');

export class Server {
  /** Actions this broker serves, by subject: where a call in this process short-circuits the wire. */
  readonly local = new Map<string, ServedAction>();
  /** Served calls not finished yet; stop() waits for them. */
  readonly running = new Set<Promise<unknown>>();
  readonly #core: BrokerCore;
  readonly #services: readonly CompiledService[];
  readonly #middleware: readonly ServeMiddleware[];
  readonly #bulkheads = new Map<ServedAction, Bulkhead>();
  #subscriptions: TransportSubscription[] = [];

  constructor(
    core: BrokerCore,
    services: readonly CompiledService[],
    middleware: readonly ServeMiddleware[],
  ) {
    this.#core = core;
    this.#services = services;
    this.#middleware = middleware;
    for (const service of services) {
      for (const served of service.actions.values()) {
        this.local.set(served.action.subject, served);
        if (Number.isFinite(served.concurrency)) {
          this.#bulkheads.set(
            served,
            new Bulkhead({
              name: served.action.key,
              concurrency: served.concurrency,
              maxQueued: served.maxQueued,
            }),
          );
        }
      }
    }
  }

  /**
   * Whether a call of `served` in this process may skip the pipeline: no cap of its own, no container
   * scope (a bulkhead it takes itself: see `bulkhead`). Middleware and diagnostics subscribers can come
   * later: see `unwrapped`.
   */
  plain(served: ServedAction): boolean {
    return !Number.isFinite(served.timeoutMs) && this.#core.container === undefined;
  }

  /** The bulkhead of `served`, when it has one. */
  bulkhead(served: ServedAction): Bulkhead | undefined {
    return this.#bulkheads.get(served);
  }

  /** Whether nothing wraps a served call now: no serve middleware and no `keel:broker.serve` subscriber. */
  unwrapped(): boolean {
    return this.#middleware.length === 0 && !serveChannel.hasSubscribers;
  }

  /** Joins every action's queue group and every listened event; resolves once the engine has them all. */
  async start(): Promise<void> {
    const { transport } = this.#core;
    for (const service of this.#services) {
      const queue = service.contract.group;
      for (const served of service.actions.values()) {
        this.#subscriptions.push(
          transport.subscribe(served.action.subject, (payload, meta) => this.#answer(served, payload, meta), {
            queue,
            // Limits are the bulkhead's, per action: the transport must not queue calls behind its own.
            concurrency: Number.POSITIVE_INFINITY,
          }),
        );
      }
      for (const [key, listened] of service.events) {
        const handler = (payload: unknown, meta: MessageMeta) =>
          this.#deliver(key, listened.handler, listened.event.spec.payload, payload, meta);
        // The transport's default bounds apply: a burst of events cannot start unbounded listener calls.
        const options = { reply: false } as const;
        this.#subscriptions.push(transport.subscribe(listened.event.subject, handler, { ...options, queue }));
        this.#subscriptions.push(transport.subscribe(listened.event.broadcastSubject, handler, options));
      }
    }
    await Promise.all(this.#subscriptions.map((s) => s.ready));
  }

  /** Leaves every queue group: no new call or event reaches this broker. */
  leave(): void {
    for (const unsubscribe of this.#subscriptions) unsubscribe();
    this.#subscriptions = [];
  }

  /** Closes the bulkheads once nothing runs. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#bulkheads.values()].map((pool) => pool.close({ timeoutMs: 1000 }).catch(() => {})),
    );
  }

  /**
   * Runs one served call through the pipeline; settles like the handler (after validation) does, or,
   * given `answer`, resolves with what it makes of the outcome (the reply to send), in the same turn.
   */
  run(served: ServedAction, params: unknown, inbound: Inbound, answer?: Answer): Promise<unknown> {
    const core = this.#core;
    const meter = core.meters.serving(served.action);
    const started = meter.begin();
    const scope = core.container?.createScope();
    const span = core.tracing.serve(served.action, inbound.trace, core.nodeId, inbound.caller, inbound.depth);
    const trace = span?.link ?? inbound.trace;
    const ctx = new CallContext(core, served.action.key, inbound, served.timeoutMs, scope, trace);
    const pipeline = () => this.#pipeline(served, params, ctx);
    const traced = span === undefined ? pipeline : () => span.run(pipeline);
    const work = serveChannel.hasSubscribers
      ? serveChannel.tracePromise(traced, { action: served.action.key, nodeId: core.nodeId, ctx })
      : traced();
    // Ends the call's context and scope; a promise only when there is a scope to dispose.
    const after = (): Promise<void> | undefined => {
      ctx.end();
      this.running.delete(done);
      return scope?.dispose().catch((error: unknown) => {
        reportUnhandled('broker', `disposing the scope of a call to ${describe(served.action.key)}`, error);
      });
    };
    // The outcome, once the call's scope is disposed (at once when there is none to wait for).
    const settle = (outcome: () => unknown): unknown => {
      const disposing = after();
      return disposing === undefined ? outcome() : disposing.then(outcome);
    };
    // One reaction tells success from failure, so the meter learns the outcome without one of its own.
    const done: Promise<unknown> = work.then(
      (result) => {
        meter.succeeded(started);
        return settle(() => (answer === undefined ? result : answer.ok(result)));
      },
      (error: unknown) => {
        meter.failed(started, error);
        return settle(() => {
          if (answer === undefined) throw error;
          return answer.failed(error);
        });
      },
    );
    this.running.add(done);
    return done;
  }

  #pipeline(served: ServedAction, params: unknown, ctx: CallContext): Promise<unknown> {
    if (this.#middleware.length === 0 && !ctx.capped && !this.#bulkheads.has(served)) {
      return this.#plain(served, params, ctx);
    }
    const { spec, key } = served.action;
    const nodeId = this.#core.nodeId;
    const inner = async () => {
      const value = await validate(spec.params, params, key, 'params', nodeId);
      const result = await served.handler(value, ctx);
      return validate(spec.result, result, key, 'result', nodeId);
    };
    const bulkhead = this.#bulkheads.get(served);
    // The call's own signal goes in: a call whose caller gave up leaves the queue without running.
    const guarded = bulkhead === undefined ? inner : () => bulkhead.run(inner, { signal: ctx.signal });
    const work = runLayers(this.#middleware, (layer, next) => layer(ctx, params, next), guarded);
    // An action's own timeoutMs ends the call here, even when the handler ignores its signal.
    return ctx.capped ? raceAbort(work, ctx.signal) : work;
  }

  /** The pipeline with nothing around the handler (see serveChecked). */
  #plain(served: ServedAction, params: unknown, ctx: CallContext): Promise<unknown> {
    try {
      const { action } = served;
      const out = serveChecked(action.spec, served.handler, params, ctx, action.key, this.#core.nodeId);
      return out instanceof Promise ? out : Promise.resolve(out);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #answer(served: ServedAction, payload: unknown, meta: MessageMeta): Promise<unknown> | unknown {
    const nodeId = this.#core.nodeId;
    const decoded = decodeCall(payload);
    if (!decoded.ok) {
      return encodeReply({
        ok: false,
        error: toWireError(new BrokerProtocolError(meta.subject, decoded.reason), nodeId, false),
      });
    }
    const { params, depth, key, caller } = decoded.value;
    const inbound: Inbound = {
      depth,
      key,
      caller,
      meta: withoutTrace(meta.headers),
      trace: this.#core.tracing.enabled ? traceOf(meta.headers) : undefined,
      deadline: meta.isRequest ? meta.deadline : Number.POSITIVE_INFINITY,
      source: meta.isRequest ? () => meta.signal : undefined,
    };
    return this.run(served, params, inbound, {
      ok: (result) => encodeReply({ ok: true, result, nodeId }),
      failed: (error) => encodeReply({ ok: false, error: toWireError(error, nodeId, served.exposeStack) }),
    });
  }

  /** Delivers one event to a listener: decoded, validated, and any failure reported (there is no caller). */
  async #deliver(
    key: string,
    handler: (payload: unknown, ctx: CallContext) => unknown,
    schema: Parameters<typeof validate>[0],
    message: unknown,
    meta: MessageMeta,
  ): Promise<void> {
    const core = this.#core;
    const scope = core.container?.createScope();
    const from = core.tracing.enabled ? traceOf(meta.headers) : undefined;
    const span = core.tracing.process(key, meta.subject, from, core.nodeId);
    const ctx = new CallContext(
      core,
      key,
      {
        depth: 1,
        key: undefined,
        caller: undefined,
        meta: Object.freeze({}),
        deadline: Date.now() + core.defaultTimeoutMs,
        source: undefined,
      },
      Number.POSITIVE_INFINITY,
      scope,
      span?.link ?? from,
    );
    const listen = async () => {
      const decoded = decodeEvent(message);
      if (!decoded.ok) throw new BrokerProtocolError(key, decoded.reason);
      await handler(await validate(schema, decoded.value.payload, key, 'payload', core.nodeId), ctx);
    };
    const done = span === undefined ? listen() : span.run(listen);
    this.running.add(done);
    try {
      await done;
    } catch (error) {
      reportUnhandled('broker', `listener of ${describe(key)} on ${core.nodeId}`, error);
    } finally {
      this.running.delete(done);
      ctx.end();
      await scope?.dispose().catch((error: unknown) => {
        reportUnhandled('broker', `disposing the scope of a listener of ${describe(key)}`, error);
      });
    }
  }
}
