/**
 * Tracing: W3C trace context (`traceparent`, `tracestate`) in the transport headers of every call and
 * event, and OpenTelemetry CLIENT/SERVER/PRODUCER/CONSUMER spans when an SDK is registered. The
 * `@opentelemetry/api` package is an optional peer, imported once when a broker is created; without it,
 * or without an SDK behind it, an incoming trace context is passed on unchanged and no span is made.
 */
import type * as Otel from '@opentelemetry/api';
import type { MessageHeaders } from '../transport/index.ts';
import type { CompiledAction, CompiledEvent } from './contract.ts';

/** The W3C Trace Context header names. They travel as transport headers, never in `ctx.meta`. */
export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

/** The name (and instrumentation scope) of the tracer the broker's spans come from. */
export const tracerName = 'keel';

/** Where a call or event sits in a trace: what work nested in it continues. */
export interface TraceLink {
  /** W3C `traceparent`: the span a nested call is a child of (or the incoming one, passed through). */
  readonly traceparent: string;
  readonly tracestate: string | undefined;
  /** The OpenTelemetry context holding that span, when the span is a live one of this process. */
  readonly context: unknown;
}

/** A span this broker started: its link, and how it ends. */
export interface StartedSpan {
  readonly link: TraceLink;
  /** Ends the span when `work` settles (error status and exception on a rejection); returns `work`'s outcome. */
  finish<T>(work: Promise<T>): Promise<T>;
  /** Runs `fn` with the span active (so the handler's own spans are its children), then finishes it. */
  run<T>(fn: () => Promise<T>): Promise<T>;
}

/** version-traceId-parentId-flags, lowercase hex; later versions may append `-…` fields. */
const zeroTrace = '00000000000000000000000000000000';
const zeroSpan = '0000000000000000';
/** W3C caps `tracestate` at 32 list members; 512 characters is what it asks vendors to keep at least. */
const maxTracestate = 1024;

/** Whether `value` is a `traceparent` this broker understands (W3C Trace Context, level 1). */
export function isTraceparent(value: unknown): value is string {
  // By hand rather than by a regular expression: every call a gateway passes on carries one.
  if (typeof value !== 'string' || value.length < 55) return false;
  if (value.charCodeAt(2) !== DASH || value.charCodeAt(35) !== DASH || value.charCodeAt(52) !== DASH)
    return false;
  if (!isHex(value, 0, 2) || !isHex(value, 3, 35) || !isHex(value, 36, 52) || !isHex(value, 53, 55))
    return false;
  if (value.length > 55) {
    // A later version may add fields after a dash; version 00 has none.
    if (value.charCodeAt(55) !== DASH || value.startsWith('00')) return false;
    for (let i = 56; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c === 10 || c === 13 || c === 0x2028 || c === 0x2029) return false;
    }
  }
  return !value.startsWith('ff') && !value.startsWith(zeroTrace, 3) && !value.startsWith(zeroSpan, 36);
}

const DASH = 45;

/** Whether `text` holds only lowercase hex digits from `from` to `to`. */
function isHex(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** The trace context `headers` carry, or undefined when they carry none (or a malformed one). */
export function traceOf(headers: MessageHeaders): TraceLink | undefined {
  const traceparent = headers[TRACEPARENT];
  if (traceparent === undefined || !isTraceparent(traceparent)) return undefined;
  const tracestate = headers[TRACESTATE];
  return {
    traceparent,
    tracestate: tracestate !== undefined && tracestate.length <= maxTracestate ? tracestate : undefined,
    context: undefined,
  };
}

/** `headers` without the trace context (the same object when there is none to take out). */
export function withoutTrace(headers: MessageHeaders): MessageHeaders {
  if (headers[TRACEPARENT] === undefined && headers[TRACESTATE] === undefined) return headers;
  const rest = Object.create(null) as Record<string, string>;
  for (const name in headers) {
    if (name !== TRACEPARENT && name !== TRACESTATE) rest[name] = headers[name] as string;
  }
  return Object.freeze(rest);
}

/** `headers` plus the link's trace context, as a call or event carries them on the wire. */
export function withTrace(headers: MessageHeaders | undefined, link: TraceLink): MessageHeaders {
  const wire = Object.create(null) as Record<string, string>;
  if (headers !== undefined) Object.assign(wire, headers);
  wire[TRACEPARENT] = link.traceparent;
  if (link.tracestate !== undefined) wire[TRACESTATE] = link.tracestate;
  else delete wire[TRACESTATE];
  return wire;
}

/** The trace id a link names: 32 hex digits. */
export function traceIdOf(link: TraceLink): string {
  return link.traceparent.slice(3, 35);
}

// The OpenTelemetry types stay out of every exported signature, so Keel's declarations never name the
// optional package: a user without it compiles against them all the same.
type Api = typeof Otel;
let loading: Promise<unknown> | undefined;

/** Imports `@opentelemetry/api` once per process; undefined when it is not installed. For `new Tracing()`. */
export function loadOpenTelemetry(): Promise<unknown> {
  loading ??= importOptional(() => import('@opentelemetry/api'));
  return loading;
}

/** Runs `importer`; undefined when `@opentelemetry/api` is not installed, any other failure passes through. */
export async function importOptional<M>(importer: () => Promise<M>): Promise<M | undefined> {
  try {
    return await importer();
  } catch (error) {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    if (code === 'ERR_MODULE_NOT_FOUND' && String(message).includes("'@opentelemetry/api'")) return undefined;
    throw error;
  }
}

/** A broker's tracing: on (with or without OpenTelemetry behind it) or off. */
export class Tracing {
  /** Off: no span, and no trace context read or sent. */
  static readonly off = new Tracing(undefined, false);
  /** Whether trace context is read and sent (`createBroker({ tracing })`). */
  readonly enabled: boolean;
  readonly #api: Api | undefined;
  /** What a provider with no SDK behind it delegates to: calls then make no span at all. */
  readonly #noop: unknown;
  #delegate: unknown;
  #tracer: Otel.Tracer | undefined;
  readonly #attributes = new Map<string, Otel.Attributes>();

  /** `api` is the `@opentelemetry/api` module (from `loadOpenTelemetry`), or undefined without it. */
  constructor(api: unknown, enabled = true) {
    const otel = enabled ? (api as Api | undefined) : undefined;
    this.#api = otel;
    this.enabled = enabled;
    this.#noop = otel === undefined ? undefined : new otel.ProxyTracerProvider().getDelegate();
  }

  /** Whether an OpenTelemetry SDK is registered now, so calls make spans. */
  active(): boolean {
    return this.#api !== undefined && this.#tracerNow() !== undefined;
  }

  /**
   * The CLIENT span of an outgoing call, child of `parent` (the serving call's span, or a `traceparent`
   * the caller gave), or else of the active OpenTelemetry context; undefined when no SDK is registered.
   */
  call(
    action: CompiledAction,
    parent: TraceLink | undefined,
    nodeId: string,
    local: boolean,
    depth: number,
  ): StartedSpan | undefined {
    const tracer = this.#tracerNow();
    if (tracer === undefined) return undefined;
    const api = this.#api as Api;
    const attributes: Otel.Attributes = {
      ...this.#rpc(action),
      'keel.node.id': nodeId,
      'keel.call.local': local,
      'keel.call.depth': depth,
    };
    return this.#start(tracer, this.#parentContext(parent, true), spanName(action), {
      kind: api.SpanKind.CLIENT,
      attributes,
    });
  }

  /** The SERVER span of a served call, child of the caller's span; undefined when no SDK is registered. */
  serve(
    action: CompiledAction,
    parent: TraceLink | undefined,
    nodeId: string,
    caller: string | undefined,
    depth: number,
  ): StartedSpan | undefined {
    const tracer = this.#tracerNow();
    if (tracer === undefined) return undefined;
    const api = this.#api as Api;
    const attributes: Otel.Attributes = {
      ...this.#rpc(action),
      'keel.node.id': nodeId,
      'keel.call.depth': depth,
    };
    if (caller !== undefined) attributes['keel.caller.node.id'] = caller;
    return this.#start(tracer, this.#parentContext(parent, false), spanName(action), {
      kind: api.SpanKind.SERVER,
      attributes,
    });
  }

  /** The PRODUCER span of an emit or broadcast. */
  send(
    event: CompiledEvent,
    parent: TraceLink | undefined,
    nodeId: string,
    broadcast: boolean,
  ): StartedSpan | undefined {
    const tracer = this.#tracerNow();
    if (tracer === undefined) return undefined;
    const api = this.#api as Api;
    return this.#start(tracer, this.#parentContext(parent, true), `send ${event.key}`, {
      kind: api.SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'keel',
        'messaging.operation.type': 'send',
        'messaging.operation.name': broadcast ? 'broadcast' : 'emit',
        'messaging.destination.name': broadcast ? event.broadcastSubject : event.subject,
        'keel.node.id': nodeId,
      },
    });
  }

  /** The CONSUMER span of one event delivery, child of the producer's span. */
  process(
    key: string,
    subject: string,
    parent: TraceLink | undefined,
    nodeId: string,
  ): StartedSpan | undefined {
    const tracer = this.#tracerNow();
    if (tracer === undefined) return undefined;
    const api = this.#api as Api;
    return this.#start(tracer, this.#parentContext(parent, false), `process ${key}`, {
      kind: api.SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'keel',
        'messaging.operation.type': 'process',
        'messaging.destination.name': subject,
        'keel.node.id': nodeId,
      },
    });
  }

  /** The tracer of the SDK registered now, or undefined when there is none (the per-call check is one identity test). */
  #tracerNow(): Otel.Tracer | undefined {
    const api = this.#api;
    if (api === undefined) return undefined;
    const provider = api.trace.getTracerProvider() as Otel.TracerProvider & {
      getDelegate?: () => Otel.TracerProvider;
    };
    const delegate = typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider;
    if (delegate === this.#noop) return undefined;
    if (delegate !== this.#delegate || this.#tracer === undefined) {
      this.#delegate = delegate;
      this.#tracer = delegate.getTracer(tracerName);
    }
    return this.#tracer;
  }

  /**
   * The context a new span is a child of. For an outgoing call or event, a live parent of this process
   * gives way to the active context when that one is inside the same trace (a span the handler started
   * itself around the call); a
   * remote parent is rebuilt from its header; with no parent, an outgoing call continues the active
   * context (an HTTP server span, say), and a served call or delivery starts a trace of its own.
   */
  #parentContext(parent: TraceLink | undefined, outgoing: boolean): Otel.Context {
    const api = this.#api as Api;
    if (parent === undefined) return outgoing ? api.context.active() : api.ROOT_CONTEXT;
    if (parent.context !== undefined) {
      if (outgoing) {
        const active = api.context.active();
        const inner = api.trace.getSpanContext(active);
        if (inner !== undefined && inner.traceId === traceIdOf(parent)) return active;
      }
      return parent.context as Otel.Context;
    }
    const [, traceId, spanId, flags] = parent.traceparent.split('-') as [string, string, string, string];
    return api.trace.setSpanContext(api.ROOT_CONTEXT, {
      traceId,
      spanId,
      traceFlags: Number.parseInt(flags, 16) & 1,
      isRemote: true,
      ...(parent.tracestate === undefined ? {} : { traceState: api.createTraceState(parent.tracestate) }),
    });
  }

  #start(tracer: Otel.Tracer, parent: Otel.Context, name: string, options: Otel.SpanOptions): StartedSpan {
    const api = this.#api as Api;
    const span = tracer.startSpan(name, options, parent);
    const sc = span.spanContext();
    const context = api.trace.setSpan(parent, span);
    const link: TraceLink = {
      traceparent: `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`,
      tracestate: sc.traceState?.serialize() || undefined,
      context,
    };
    return new Started(api, span, link);
  }

  /** The RPC attributes of an action, made once. */
  #rpc(action: CompiledAction): Otel.Attributes {
    let attributes = this.#attributes.get(action.key);
    if (attributes === undefined) {
      const [service = '', major = ''] = action.subject.split('.');
      attributes = {
        'rpc.system': 'keel',
        'rpc.service': service,
        'rpc.method': action.name,
        'keel.contract.major': Number(major.slice(1)),
      };
      this.#attributes.set(action.key, attributes);
    }
    return attributes;
  }
}

class Started implements StartedSpan {
  readonly link: TraceLink;
  readonly #api: Api;
  readonly #span: Otel.Span;

  constructor(api: Api, span: Otel.Span, link: TraceLink) {
    this.#api = api;
    this.#span = span;
    this.link = link;
  }

  finish<T>(work: Promise<T>): Promise<T> {
    const span = this.#span;
    // A span the sampler dropped records nothing: no need to wait for the work.
    if (!span.isRecording()) return work;
    return work.then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        this.#fail(error);
        span.end();
        throw error;
      },
    );
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    let work: Promise<T>;
    try {
      work = this.#api.context.with(this.link.context as Otel.Context, fn);
    } catch (error) {
      work = Promise.reject(error);
    }
    return this.finish(work);
  }

  /** Error status, the Keel code as `error.type`, and the error as an exception event (its code as the type). */
  #fail(error: unknown): void {
    const span = this.#span;
    const { code, name, message } = (typeof error === 'object' && error !== null ? error : {}) as {
      code?: unknown;
      name?: unknown;
      message?: unknown;
    };
    const type = typeof code === 'string' ? code : typeof name === 'string' ? name : '_OTHER';
    span.recordException(error instanceof Error ? error : { name: type, message: String(error) });
    span.setAttribute('error.type', type);
    span.setStatus({
      code: this.#api.SpanStatusCode.ERROR,
      ...(typeof message === 'string' ? { message } : {}),
    });
  }
}

/** `<contract>/<action>`, as the RPC conventions name spans (`$service/$method`). */
function spanName(action: CompiledAction): string {
  return `${action.key.slice(0, action.key.length - action.name.length - 1)}/${action.name}`;
}
