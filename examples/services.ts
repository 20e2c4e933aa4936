/**
 * Two services, one calling the other: a nested call that gets only the time its caller has left, a caller
 * that gives up on a slow call (and the handler that sees it), and one trace id across both hops.
 *
 * `npm run example:services` runs it in one process over memory://. `TRANSPORT_URL=nats://127.0.0.1:4222
 * npm run example:services` runs the same code over NATS, with both services in a second process: the
 * deadline, the cancel and the trace id then cross the wire.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tracingChannel } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { createBroker, defineContract, defineService, type ServiceContext } from '../src/index.ts';

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
      await sleep(300, undefined, { signal: ctx.signal }); // checking the stock
      const price = await ctx.client(pricing).quote({ item });
      return { item, total: price * quantity };
    },
  },
});

// The trace: Keel publishes every outgoing and served call on diagnostics channels; the served call's
// context carries the caller's meta, where the trace id travels (nested calls pass meta on).
tracingChannel('keel:broker.call').start.subscribe((message) => {
  console.log(`call ${(message as { action: string }).action}`);
});
tracingChannel('keel:broker.serve').start.subscribe((message) => {
  const { action, ctx } = message as { action: string; ctx: ServiceContext };
  console.log(`serve ${action}: trace ${ctx.meta['trace-id']}, depth ${ctx.depth}`);
});

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

  // A nested call: orders.place has 2000 ms, spends 300, and pricing.quote gets the rest.
  const trace = randomBytes(8).toString('hex');
  console.log(`caller: trace ${trace}`);
  const placed = await caller.call(
    'orders.place',
    { item: 'tea', quantity: 2 },
    { timeoutMs: 2000, meta: { 'trace-id': trace } },
  );
  console.log(`caller: placed ${JSON.stringify(placed)}`);

  // An abort: the caller gives up after 100 ms, and the handler's ctx.signal aborts wherever it runs.
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  await caller
    .client(pricing)
    .recalculate({}, { signal: controller.signal, meta: { 'trace-id': trace } })
    .catch((error: Error) => console.log(`caller: recalculate gave up (${error.name})`));

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
