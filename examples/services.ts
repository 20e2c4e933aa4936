/**
 * Two services, one calling the other: a nested call that gets only the time its caller has left, a caller
 * that gives up on a slow call (and the handler that sees it), and one OpenTelemetry trace across both hops.
 *
 * `npm run example:services` runs it in one process over memory://. `TRANSPORT_URL=nats://127.0.0.1:4222
 * npm run example:services` runs the same code over NATS, with both services in a second process: the
 * deadline, the cancel and the trace id then cross the wire.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import { createBroker, defineContract, defineService } from '../src/index.ts';

const url = process.env.TRANSPORT_URL ?? 'memory://services-example';
const remote = !url.startsWith('memory:');

// Contracts: what callers and implementations share. Any Standard Schema works; these are zod's.
const pricing = defineContract({
  name: 'pricing',
  version: 1,
  actions: {
    quote: { params: z.object({ item: z.string() }), result: z.number(), idempotent: true },
    recalculate: { params: z.object({}), result: z.number() },
  },
});
const orders = defineContract({
  name: 'orders',
  version: 1,
  actions: {
    place: {
      params: z.object({ item: z.string(), quantity: z.number().int().positive() }),
      result: z.object({ item: z.string(), total: z.number() }),
    },
  },
});

// pricing: a quick action, and a slow one that stops as soon as its caller gives up.
const pricingService = defineService(pricing, {
  actions: {
    quote: async ({ item }, ctx) => {
      console.log(`pricing.quote: trace ${ctx.traceId}, depth ${ctx.depth}`);
      console.log(`pricing.quote: at most 1700 ms left: ${ctx.deadline - Date.now() <= 1700}`);
      return item === 'tea' ? 4.5 : 3;
    },
    recalculate: async (_params, ctx) => {
      // Real work would take ctx.signal along (fetch, a database query); here it only waits for it.
      await once(ctx.signal, 'abort');
      console.log(`pricing.recalculate: ctx.signal aborted (${(ctx.signal.reason as Error).name}), stopping`);
      throw ctx.signal.reason;
    },
  },
});

// orders: calls pricing inside its own call, so that call inherits the deadline, the meta and the signal.
const ordersService = defineService(orders, {
  actions: {
    place: async ({ item, quantity }, ctx) => {
      console.log(`orders.place: trace ${ctx.traceId}, depth ${ctx.depth}`);
      await sleep(300, undefined, { signal: ctx.signal }); // checking the stock
      const price = await ctx.client(pricing).quote({ item });
      return { item, total: price * quantity };
    },
  },
});

// The trace: an OpenTelemetry SDK in each process (in production, NodeSDK with an OTLP exporter; here
// each finished span is printed). The broker makes a CLIENT and a SERVER span per call, and sends the
// trace context with the call, so every span of the checkout has one trace id, whichever process made it.
trace.setGlobalTracerProvider(
  new BasicTracerProvider({
    spanProcessors: [
      {
        onStart: () => {},
        onEnd: (span: ReadableSpan) => {
          const failed = span.status.code === SpanStatusCode.ERROR ? ' (error)' : '';
          console.log(
            `span ${SpanKind[span.kind]} ${span.name}: trace ${span.spanContext().traceId}${failed}`,
          );
        },
        forceFlush: async () => {},
        shutdown: async () => {},
      },
    ],
  }),
);

/** Each service on a broker of its own, so even in one process the nested call crosses the transport. */
async function startServices() {
  const pricingBroker = await createBroker({ transport: url, services: [pricingService] });
  const ordersBroker = await createBroker({ transport: url, services: [ordersService] });
  return async () => {
    await ordersBroker.stop({ timeoutMs: 1000 });
    await pricingBroker.stop({ timeoutMs: 1000 });
  };
}

if (process.env.SERVICES_EXAMPLE_ROLE === 'services') {
  // The second process (NATS only): serves both until its parent closes stdin.
  const stop = await startServices();
  process.send?.('ready');
  process.stdin.resume();
  await once(process.stdin, 'end');
  await stop();
  process.disconnect?.();
} else {
  const services = remote ? await startServicesProcess() : undefined;
  const stopServices = remote ? undefined : await startServices();
  const caller = await createBroker({ transport: url, contracts: [orders, pricing] });

  // The checkout's own span; its context goes with the calls as a gateway would pass on its request's.
  const checkout = trace.getTracer('example').startSpan('checkout');
  const { traceId, spanId } = checkout.spanContext();
  const meta = { traceparent: `00-${traceId}-${spanId}-01` }; // W3C Trace Context
  console.log(`caller: trace ${traceId}`);

  // A nested call: orders.place has 2000 ms, spends 300, and pricing.quote gets the rest.
  const placed = await caller.call('orders.place', { item: 'tea', quantity: 2 }, { timeoutMs: 2000, meta });
  console.log(`caller: placed ${JSON.stringify(placed)}`);

  // An abort: the caller gives up after 100 ms, and the handler's ctx.signal aborts wherever it runs.
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  await caller
    .client(pricing)
    .recalculate({}, { signal: controller.signal, meta })
    .catch((error: Error) => console.log(`caller: recalculate gave up (${error.name})`));
  checkout.end();

  await caller.stop();
  await stopServices?.();
  if (services) {
    services.stdin?.end();
    await once(services, 'exit');
  }
}

/** Starts this file as the services process and resolves once it serves. */
async function startServicesProcess() {
  const child = spawn(process.execPath, [import.meta.filename], {
    env: { ...process.env, TRANSPORT_URL: url, SERVICES_EXAMPLE_ROLE: 'services' },
    // Its output goes straight to this process's, so the lines keep the order they happen in.
    stdio: ['pipe', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit').then(() => {
    throw new Error('the services process exited before it was ready');
  });
  await Promise.race([once(child, 'message'), exited]);
  exited.catch(() => {});
  console.log('services process ready');
  return child;
}
