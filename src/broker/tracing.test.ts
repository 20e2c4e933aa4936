import { SpanStatusCode, trace } from '@opentelemetry/api';
import { AlwaysOffSampler } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SpanJson, startTestTracing, type TestTracing } from '../../test/fixtures/otel-tracing.ts';
import { type MessageHeaders, openTransport, type Transport } from '../transport/index.ts';
import type { Broker } from './broker.ts';
import { ValidationError } from './broker-errors.ts';
import { failure, shapesContract, uniqueName } from './contract/context.contract.ts';
import { type BrokerOptions, createBroker } from './create-broker.ts';
import { defineService } from './service.ts';
import type { ServiceContext } from './service-context.ts';
import { importOptional, isTraceparent, traceIdOf, traceOf, withoutTrace, withTrace } from './tracing.ts';
import { encodeReply } from './wire.ts';

const incoming = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const incomingTraceId = '0af7651916cd43dd8448eb211c80319c';

let brokers: Broker[] = [];
let transports: Transport[] = [];
afterEach(async () => {
  await Promise.all(brokers.map((b) => b.stop({ timeoutMs: 2000 })));
  await Promise.all(transports.map((t) => t.close()));
  brokers = [];
  transports = [];
});

async function open(url: string, options: Omit<BrokerOptions, 'transport'>): Promise<Broker> {
  const broker = (await createBroker({ transport: url, ...options })) as Broker;
  brokers.push(broker);
  return broker;
}

/**
 * Two contracts on one memory hub: `front.run` (served by broker A) calls `back.run`, which a raw
 * transport responder answers while recording the headers it got, and emits `front.created`.
 */
async function chain(options: Omit<BrokerOptions, 'transport'> = {}) {
  const url = `memory://${uniqueName('trace')}`;
  const front = shapesContract(uniqueName('front'));
  const back = shapesContract(uniqueName('back'));
  const seen: { meta: MessageHeaders; traceId: string | undefined; active: string | undefined }[] = [];
  const heard: { traceId: string | undefined }[] = [];
  const service = defineService(front, {
    actions: {
      area: () => 1,
      idem: () => 1,
      run: async (params, ctx) => {
        seen.push({
          meta: ctx.meta,
          traceId: ctx.traceId,
          active: trace.getActiveSpan()?.spanContext().spanId,
        });
        if (params === 'fail')
          throw new ValidationError(ctx.action, 'params', [{ message: 'no' }], ctx.nodeId);
        if (params === 'emit') await ctx.emit(`${front.name}.created`, 1);
        if (params === 'broadcast') await ctx.broadcast(`${front.name}.created`, 2);
        return ctx.client(back).run(params);
      },
    },
    events: {
      [`${front.name}.created`]: (_n: number, ctx: ServiceContext) =>
        void heard.push({ traceId: ctx.traceId }),
    },
  });
  await open(url, { ...options, services: [service], nodeId: 'node-a', contracts: [back] });
  const caller = await open(url, { ...options, contracts: [front], nodeId: 'node-caller' });
  const raw = await openTransport(url);
  transports.push(raw);
  const wire: MessageHeaders[] = [];
  const sub = raw.subscribe(`${back.name}.v1.run`, (payload, meta) => {
    wire.push(meta.headers);
    return encodeReply({ ok: true, result: (payload as { params: unknown }).params });
  });
  await sub.ready;
  return { caller, front, back, seen, heard, wire, client: caller.client(front) };
}

describe('W3C trace context', () => {
  it('accepts a well-formed traceparent and refuses the malformed ones', () => {
    expect(isTraceparent(incoming)).toBe(true);
    expect(isTraceparent('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later')).toBe(true);
    for (const bad of [
      '',
      'nonsense',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra',
      '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0',
      '0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0G',
      '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x',
      '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-a\nb',
      '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-a\u2028b',
    ]) {
      expect(isTraceparent(bad), bad).toBe(false);
    }
    expect(isTraceparent(5)).toBe(false);
  });

  it('reads the trace context out of headers and puts it back, apart from the rest', () => {
    const headers = { traceparent: incoming, tracestate: 'a=1', 'x-id': '7' };
    const link = traceOf(headers);
    expect(link).toEqual({ traceparent: incoming, tracestate: 'a=1', context: undefined });
    expect(traceIdOf(link as NonNullable<typeof link>)).toBe(incomingTraceId);
    expect({ ...withoutTrace(headers) }).toEqual({ 'x-id': '7' });
    const plain = { 'x-id': '7' };
    expect(withoutTrace(plain)).toBe(plain);
    expect({ ...withTrace(plain, link as NonNullable<typeof link>) }).toEqual(headers);
    // A malformed traceparent is no trace context at all (W3C: start afresh), and its tracestate goes too.
    expect(traceOf({ traceparent: 'junk', tracestate: 'a=1' })).toBeUndefined();
    expect(traceOf({ tracestate: 'a=1' })).toBeUndefined();
  });

  it('treats a missing @opentelemetry/api as absent, and any other import failure as a failure', async () => {
    const missing = Object.assign(new Error("Cannot find package '@opentelemetry/api' imported from x"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    await expect(importOptional(() => Promise.reject(missing))).resolves.toBeUndefined();
    const other = Object.assign(new Error("Cannot find module './own.js'"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(importOptional(() => Promise.reject(other))).rejects.toBe(other);
    const broken = new SyntaxError('Unexpected token');
    await expect(importOptional(() => Promise.reject(broken))).rejects.toBe(broken);
  });
});

describe('without an OpenTelemetry SDK', () => {
  it('passes an incoming traceparent on to nested calls unchanged, and out of ctx.meta', async () => {
    const { client, seen, wire } = await chain();
    await expect(
      client.run('x', { meta: { traceparent: incoming, tracestate: 'k=v', 'x-id': '1' } }),
    ).resolves.toBe('x');
    expect(seen).toHaveLength(1);
    expect({ ...seen[0]?.meta }).toEqual({ 'x-id': '1' });
    expect(seen[0]?.traceId).toBe(incomingTraceId);
    expect(seen[0]?.active).toBeUndefined();
    expect(wire).toHaveLength(1);
    expect(wire[0]).toMatchObject({ traceparent: incoming, tracestate: 'k=v', 'x-id': '1' });
  });

  it('sends no trace context when the call has none, and ctx.traceId is undefined', async () => {
    const { client, seen, wire } = await chain();
    await expect(client.run('x')).resolves.toBe('x');
    expect(seen[0]?.traceId).toBeUndefined();
    expect(wire[0]?.traceparent).toBeUndefined();
  });

  it('carries the trace context with an event emitted by a handler', async () => {
    const { client, heard } = await chain();
    await client.run('emit', { meta: { traceparent: incoming } });
    await expect.poll(() => heard, { timeout: 5000 }).toHaveLength(1);
    expect(heard[0]?.traceId).toBe(incomingTraceId);
  });
});

describe('with an OpenTelemetry SDK', () => {
  let tracing: TestTracing;
  beforeAll(() => {
    tracing = startTestTracing();
  });
  afterAll(() => tracing.stop());
  afterEach(() => tracing.exporter.reset());

  const byKind = (spans: SpanJson[], kind: SpanJson['kind'], name: string) =>
    spans.filter((s) => s.kind === kind && s.name.endsWith(name));
  const one = (spans: SpanJson[], kind: SpanJson['kind'], name: string) => {
    const found = byKind(spans, kind, name);
    expect(
      found,
      `${kind} ${name} in ${JSON.stringify(spans.map((s) => `${s.kind} ${s.name}`))}`,
    ).toHaveLength(1);
    return found[0] as SpanJson;
  };

  it('makes a CLIENT and a SERVER span per call, one trace from the caller to the nested call', async () => {
    const { client, front, back, seen, wire } = await chain();
    await expect(client.run('x', { meta: { 'x-id': '1' } })).resolves.toBe('x');
    const spans = tracing.spans();
    const outer = one(spans, 'CLIENT', `${front.name}/run`);
    const served = one(spans, 'SERVER', `${front.name}/run`);
    const nested = one(spans, 'CLIENT', `${back.name}/run`);
    expect(spans).toHaveLength(3);
    expect(outer.parentSpanId).toBeUndefined();
    expect(served.parentSpanId).toBe(outer.spanId);
    expect(nested.parentSpanId).toBe(served.spanId);
    for (const s of [served, nested]) expect(s.traceId).toBe(outer.traceId);
    // The nested call's headers name the nested CLIENT span as the parent, as W3C says.
    expect(wire[0]?.traceparent).toBe(`00-${outer.traceId}-${nested.spanId}-01`);
    expect(seen[0]?.traceId).toBe(outer.traceId);
    // The serving span is active in the handler, so the handler's own spans are its children.
    expect(seen[0]?.active).toBe(served.spanId);
    expect({ ...seen[0]?.meta }).toEqual({ 'x-id': '1' });
    expect(outer.attributes).toEqual({
      'rpc.system': 'keel',
      'rpc.service': front.name,
      'rpc.method': 'run',
      'keel.contract.major': 1,
      'keel.node.id': 'node-caller',
      'keel.call.local': false,
      'keel.call.depth': 1,
    });
    expect(served.attributes).toEqual({
      'rpc.system': 'keel',
      'rpc.service': front.name,
      'rpc.method': 'run',
      'keel.contract.major': 1,
      'keel.node.id': 'node-a',
      'keel.caller.node.id': 'node-caller',
      'keel.call.depth': 1,
    });
    expect(nested.attributes).toMatchObject({ 'keel.node.id': 'node-a', 'keel.call.depth': 2 });
    for (const s of [outer, served, nested]) expect(s.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('continues the active context (an HTTP server span, say) of a call made from outside a handler', async () => {
    const { client, front } = await chain();
    const tracer = trace.getTracer('test');
    const http = await tracer.startActiveSpan('GET /shapes', async (span) => {
      await client.run('x');
      span.end();
      return span.spanContext();
    });
    const outer = one(tracing.spans(), 'CLIENT', `${front.name}/run`);
    expect(outer.traceId).toBe(http.traceId);
    expect(outer.parentSpanId).toBe(http.spanId);
  });

  it('continues a traceparent given in the call meta (from a gateway), which the handler never sees', async () => {
    const { client, front, seen } = await chain();
    await client.run('x', { meta: { traceparent: incoming, tracestate: 'k=v' } });
    const outer = one(tracing.spans(), 'CLIENT', `${front.name}/run`);
    expect(outer.traceId).toBe(incomingTraceId);
    expect(outer.parentSpanId).toBe('b7ad6b7169203331');
    expect(seen[0]?.traceId).toBe(incomingTraceId);
    expect(seen[0]?.meta).toEqual({});
  });

  it("marks a failed call's spans as errors, with the Keel code as error.type and an exception", async () => {
    const { client, front } = await chain();
    const error = await failure(client.run('fail'));
    expect(error).toBeInstanceOf(ValidationError);
    const spans = tracing.spans();
    for (const kind of ['CLIENT', 'SERVER'] as const) {
      const span = one(spans, kind, `${front.name}/run`);
      expect(span.status, kind).toMatchObject({ code: SpanStatusCode.ERROR });
      expect(span.attributes['error.type'], kind).toBe('KEEL_BROKER_VALIDATION');
      expect(span.events, kind).toEqual([
        expect.objectContaining({
          name: 'exception',
          attributes: expect.objectContaining({ 'exception.type': 'KEEL_BROKER_VALIDATION' }),
        }),
      ]);
    }
  });

  it('traces a call the broker serves itself (the local short-circuit) the same way', async () => {
    const url = `memory://${uniqueName('trace')}`;
    const shapes = shapesContract(uniqueName('local'));
    const service = defineService(shapes, {
      actions: { area: () => 1, run: (_p, ctx) => ctx.traceId, idem: () => 1 },
    });
    const broker = await open(url, { services: [service] });
    const traceId = await broker.client(shapes).run(null);
    const spans = tracing.spans();
    const outer = one(spans, 'CLIENT', `${shapes.name}/run`);
    const served = one(spans, 'SERVER', `${shapes.name}/run`);
    expect(outer.attributes['keel.call.local']).toBe(true);
    expect(served.parentSpanId).toBe(outer.spanId);
    expect(served.traceId).toBe(outer.traceId);
    expect(traceId).toBe(outer.traceId);
  });

  it("a local call's SERVER span is the child of its CLIENT span, even inside an active span", async () => {
    const url = `memory://${uniqueName('trace')}`;
    const shapes = shapesContract(uniqueName('local'));
    const service = defineService(shapes, {
      actions: {
        area: () => 1,
        idem: () => 1,
        // A span of the handler's own, around a nested call: the nested CLIENT span is its child.
        run: (_p, ctx) =>
          trace.getTracer('test').startActiveSpan('own work', async (span) => {
            const got = await ctx.call(`${shapes.name}.idem`, null);
            span.end();
            return got;
          }),
      },
    });
    const broker = await open(url, { services: [service] });
    const http = await trace.getTracer('test').startActiveSpan('GET /local', async (span) => {
      await broker.client(shapes).run(null);
      span.end();
      return span.spanContext();
    });
    const spans = tracing.spans();
    const outer = one(spans, 'CLIENT', `${shapes.name}/run`);
    const served = one(spans, 'SERVER', `${shapes.name}/run`);
    const own = one(spans, 'INTERNAL', 'own work');
    const nested = one(spans, 'CLIENT', `${shapes.name}/idem`);
    const leaf = one(spans, 'SERVER', `${shapes.name}/idem`);
    expect(outer.parentSpanId).toBe(http.spanId);
    expect(served.parentSpanId).toBe(outer.spanId);
    expect(own.parentSpanId).toBe(served.spanId);
    expect(nested.parentSpanId).toBe(own.spanId);
    expect(leaf.parentSpanId).toBe(nested.spanId);
    for (const s of spans) expect(s.traceId).toBe(http.traceId);
  });

  it('makes a PRODUCER span for an event a handler emits and a CONSUMER span for its delivery', async () => {
    const { client, front, heard } = await chain();
    await client.run('emit');
    await expect.poll(() => heard, { timeout: 5000 }).toHaveLength(1);
    await expect
      .poll(() => byKind(tracing.spans(), 'CONSUMER', `${front.name}.created`), { timeout: 5000 })
      .toHaveLength(1);
    const spans = tracing.spans();
    const served = one(spans, 'SERVER', `${front.name}/run`);
    const sent = one(spans, 'PRODUCER', `${front.name}.created`);
    const processed = one(spans, 'CONSUMER', `${front.name}.created`);
    expect(sent.name).toBe(`send ${front.name}.created`);
    expect(sent.parentSpanId).toBe(served.spanId);
    expect(processed.parentSpanId).toBe(sent.spanId);
    expect(processed.traceId).toBe(served.traceId);
    expect(heard[0]?.traceId).toBe(served.traceId);
    expect(sent.attributes).toMatchObject({
      'messaging.system': 'keel',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'emit',
      'messaging.destination.name': `${front.name}.v1.event.created`,
    });
    expect(processed.attributes).toMatchObject({ 'messaging.operation.type': 'process' });

    // A broadcast the same way, on its own subject.
    tracing.exporter.reset();
    await client.run('broadcast');
    await expect
      .poll(() => byKind(tracing.spans(), 'CONSUMER', `${front.name}.created`), { timeout: 5000 })
      .toHaveLength(1);
    const again = tracing.spans();
    const cast = one(again, 'PRODUCER', `${front.name}.created`);
    expect(cast.parentSpanId).toBe(one(again, 'SERVER', `${front.name}/run`).spanId);
    expect(cast.attributes).toMatchObject({
      'messaging.operation.name': 'broadcast',
      'messaging.destination.name': `${front.name}.v1.broadcast.created`,
    });
    expect(one(again, 'CONSUMER', `${front.name}.created`).parentSpanId).toBe(cast.spanId);
  });

  it('with tracing: false, the broker works, makes no span and sends no trace context', async () => {
    const { client, seen, wire, heard } = await chain({ tracing: false });
    await expect(client.run('x', { meta: { traceparent: incoming, 'x-id': '1' } })).resolves.toBe('x');
    await client.run('emit');
    await expect.poll(() => heard, { timeout: 5000 }).toHaveLength(1);
    expect(tracing.spans()).toEqual([]);
    expect(wire.map((h) => h.traceparent)).toEqual([undefined, undefined]);
    expect(seen.map((s) => s.traceId)).toEqual([undefined, undefined]);
    expect({ ...seen[0]?.meta }).toEqual({ 'x-id': '1' });
    expect(heard[0]?.traceId).toBeUndefined();
  });

  it('refuses a tracing option that is not a boolean', async () => {
    await expect(createBroker({ transport: 'memory://', tracing: 'yes' as never })).rejects.toThrow(
      /createBroker\(\) tracing must be a boolean; received "yes"/,
    );
  });
});

describe('with an SDK whose sampler drops every trace', () => {
  let tracing: TestTracing;
  beforeAll(() => {
    tracing = startTestTracing({ sampler: new AlwaysOffSampler() });
  });
  afterAll(() => tracing.stop());

  it('records nothing but still sends the trace context, marked not sampled', async () => {
    const { client, wire, seen } = await chain();
    await client.run('x', { meta: { traceparent: incoming.replace(/01$/, '00') } });
    expect(tracing.spans()).toEqual([]);
    expect(seen[0]?.traceId).toBe(incomingTraceId);
    expect(wire[0]?.traceparent).toMatch(new RegExp(`^00-${incomingTraceId}-[0-9a-f]{16}-00$`));
  });
});

describe('an SDK registered after the broker was created', () => {
  it('is used from the next call on, and dropped again once unregistered', async () => {
    const { client, front, wire } = await chain();
    await client.run('x');
    expect(wire[0]?.traceparent).toBeUndefined();
    const tracing = startTestTracing();
    try {
      await client.run('x');
      expect(byKindName(tracing.spans(), 'CLIENT', `${front.name}/run`)).toHaveLength(1);
      expect(wire[1]?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    } finally {
      await tracing.stop();
    }
    await client.run('x');
    expect(wire[2]?.traceparent).toBeUndefined();
  });
});

function byKindName(spans: SpanJson[], kind: SpanJson['kind'], name: string): SpanJson[] {
  return spans.filter((s) => s.kind === kind && s.name === name);
}
