import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createGateway,
  keelGateway,
  MemoryIdempotencyStore,
  RedisIdempotencyStore,
  route,
} from '../src/gateway/index.ts';
import {
  asCompleted,
  bridgeEvents,
  Circle,
  Container,
  createBroker,
  defineContract,
  EventBus,
  gather,
  InvalidArgumentError,
  lazy,
  openQueue,
  openTransport,
  Pool,
  RateLimiter,
  Registry,
  retry,
  Semaphore,
  Subject,
  shutdownOn,
  sleep,
  TaskGroup,
  timeout,
  token,
} from '../src/index.ts';

/** Runs `call` and returns what it threw or rejected with. */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

const bad: readonly [string, unknown][] = [
  ['null', null],
  ['a number', 5],
  ['a string', 'fast'],
  ['an array', []],
];

/** Every public call that takes an options object, with that object replaced by `value`. */
const transport = openTransport('memory://options-objects');
const queue = openQueue('memory://', 'options-objects');
const echo = defineContract({
  name: 'options-echo',
  version: 1,
  actions: {
    say: {
      params: {
        '~standard': { version: 1, vendor: 'options', validate: (value: unknown) => ({ value }) },
      },
      result: { '~standard': { version: 1, vendor: 'options', validate: (value: unknown) => ({ value }) } },
    },
  },
  events: {
    said: {
      payload: { '~standard': { version: 1, vendor: 'options', validate: (value: unknown) => ({ value }) } },
    },
  },
});
const broker = createBroker({ transport: 'memory://options-objects', contracts: [echo] });
const gateway = broker.then((b) =>
  createGateway({ broker: b, routes: [], logger: false, metrics: false, pressure: false, openapi: false }),
);
afterAll(async () => {
  await (await gateway).stop({ timeoutMs: 1000 });
  await (await transport).close();
  await (await queue).close();
  await (await broker).stop();
});

const calls = (value: unknown): [string, () => unknown][] => {
  const o = value as never;
  const bus = new EventBus();
  return [
    ['gather', () => gather([], o)],
    ['retry', () => retry(() => 1, o)],
    ['timeout', () => timeout(() => 1, 10, o)],
    ['sleep', () => sleep(1, o)],
    ['asCompleted', () => asCompleted([], o)],
    ['TaskGroup.run', () => TaskGroup.run(async () => {}, o)],
    ['new Pool', () => new Pool(o)],
    ['Pool.run', () => new Pool({ concurrency: 1 }).run(() => 1, o)],
    ['new Semaphore().acquire', () => new Semaphore(1).acquire(o)],
    ['new RateLimiter', () => new RateLimiter(o)],
    ['new Subject', () => new Subject(o)],
    ['new EventBus', () => new EventBus(o)],
    ['EventBus.on', () => bus.on('a', () => {}, o)],
    ['EventBus.once', () => bus.once('a', o)],
    ['EventBus.emitAsync', () => bus.emitAsync('a', 1, o)],
    ['EventBus.stream', () => bus.stream('a', o)],
    ['lazy().get', () => lazy(() => 1).get(o)],
    ['Registry.register', () => new Registry('x').register('a', () => 1, o)],
    ['Circle.toSVG', () => new Circle().toSVG(o)],
    ['Container.resolveAsync', () => new Container().resolveAsync(token('t'), o)],
    ['bridgeEvents', () => bridgeEvents(bus, { publish() {}, subscribe() {} } as never, o)],
    ['openTransport', () => openTransport('memory://options-objects', o)],
    ['Transport.publish', () => transport.then((t) => t.publish('a', 1, o))],
    ['Transport.subscribe', () => transport.then((t) => t.subscribe('a', () => {}, o))],
    ['Transport.request', () => transport.then((t) => t.request('a', 1, o))],
    ['Transport.close', () => transport.then((t) => t.close(o))],
    ['openQueue', () => openQueue('memory://', 'options-objects', o)],
    ['JobQueue.add', () => queue.then((q) => q.add('job', {}, o))],
    ['JobQueue.process', () => queue.then((q) => q.process(() => {}, o))],
    ['JobQueue.counts', () => queue.then((q) => q.counts(o))],
    ['JobQueue.jobs', () => queue.then((q) => q.jobs(o))],
    ['JobQueue.result', () => queue.then((q) => q.result('x', o))],
    ['JobQueue.addBulk', () => queue.then((q) => q.addBulk([], o))],
    ['JobQueue.retryFailed', () => queue.then((q) => q.retryFailed(o))],
    ['JobQueue.schedule', () => queue.then((q) => q.schedule('s', { every: 1000 }, 'job', {}, o))],
    ['JobQueue.close', () => queue.then((q) => q.close(o))],
    ['new TaskGroup', () => new TaskGroup(o)],
    [
      'Container.register',
      () => new Container().register(token('r'), { lifetime: 'transient', factory: () => 1 }, o),
    ],
    ['Container.dispose', () => new Container().dispose(o)],
    ['shutdownOn', () => shutdownOn(new Container(), o)],
    ['createBroker', () => createBroker(o)],
    ['Broker.call', () => broker.then((b) => b.call('options-echo.say', 1, o))],
    ['Broker client call', () => broker.then((b) => b.client(echo).say(1, o))],
    ['Broker.stop', () => createBroker({ transport: 'memory://' }).then((b) => b.stop(o))],
    ['Broker.on', () => broker.then((b) => b.on('options-echo.said', () => {}, o))],
    ['createGateway', () => createGateway(o)],
    ['Gateway.listen', () => gateway.then((g) => g.listen(o))],
    ['Gateway.stop', () => gateway.then((g) => g.stop(o))],
    ['Gateway.handleSignals', () => gateway.then((g) => g.handleSignals(o))],
    ['route', () => route(echo, 'say', o)],
    ['new MemoryIdempotencyStore', () => new MemoryIdempotencyStore(o)],
    ['new RedisIdempotencyStore', () => new RedisIdempotencyStore(o)],
    // Fastify hands a plugin `{}` for null options, so only the other values reach keelGateway as given.
    ...(value === null ? [] : ([['keelGateway', () => registerGateway(o)]] as [string, () => unknown][])),
  ];
};

/** Registers keelGateway on a throwaway Fastify app with `options`, and closes the app. */
async function registerGateway(options: never): Promise<void> {
  const app = Fastify();
  try {
    await app.register(keelGateway, options);
    await app.ready();
  } finally {
    await app.close();
  }
}

/** The label each call's messages start with: the call, as a user wrote it. */
const labels: Record<string, RegExp> = {
  gather: /^gather\(\) options/,
  retry: /^retry\(\) options/,
  timeout: /^timeout\(\) options/,
  sleep: /^sleep\(\) options/,
  asCompleted: /^asCompleted\(\) options/,
  'TaskGroup.run': /^TaskGroup(\.run\(\))? options/,
  'new Pool': /^Pool options/,
  'Pool.run': /^Pool\.run\(\) options/,
  'new Semaphore().acquire': /^Semaphore\.acquire\(\) options/,
  'new RateLimiter': /^RateLimiter options/,
  'new Subject': /^Subject options/,
  'new EventBus': /^EventBus options/,
  'EventBus.on': /^EventBus\.on\(\) options/,
  'EventBus.once': /^EventBus\.once\(\) options/,
  'EventBus.emitAsync': /^EventBus\.emitAsync\(\) options/,
  'EventBus.stream': /^EventBus\.stream\(\) options/,
  'lazy().get': /^lazy\(\)\.get\(\) options/,
  'Registry.register': /^Registry\.register\(\) options/,
  'Circle.toSVG': /^Circle\.toSVG\(\) options/,
  'Container.resolveAsync': /^Container\.resolveAsync\(\) options/,
  bridgeEvents: /^bridgeEvents\(\) options/,
  openTransport: /^openTransport\(\) options/,
  'Transport.publish': /^Transport\.publish\(\) options/,
  'Transport.subscribe': /^Transport\.subscribe\(\) options/,
  'Transport.request': /^Transport\.request\(\) options/,
  'Transport.close': /^Transport\.close\(\) options/,
  openQueue: /^openQueue\(\) options/,
  'JobQueue.add': /^JobQueue\.add\(\) options/,
  'JobQueue.process': /^JobQueue\.process\(\) options/,
  'JobQueue.counts': /^JobQueue\.counts\(\) options/,
  'JobQueue.close': /^JobQueue\.close\(\) options/,
  'JobQueue.jobs': /^JobQueue\.jobs\(\) options/,
  'JobQueue.result': /^JobQueue\.result\(\) options/,
  'JobQueue.addBulk': /^JobQueue\.addBulk\(\) options/,
  'JobQueue.retryFailed': /^JobQueue\.retryFailed\(\) options/,
  'JobQueue.schedule': /^JobQueue\.schedule\(\) options/,
  'new TaskGroup': /^TaskGroup options/,
  'Container.register': /^Container\.register\(\) options/,
  'Container.dispose': /^Container\.dispose\(\) options/,
  shutdownOn: /^shutdownOn\(\) options/,
  createBroker: /^createBroker\(\) options/,
  'Broker.call': /^Broker\.call\("options-echo\.say"\) options/,
  'Broker client call': /^options-echo\.say\(\) options/,
  'Broker.stop': /^Broker\.stop\(\) options/,
  'Broker.on': /^Broker\.on\(\) options/,
  createGateway: /^createGateway\(\) options/,
  'Gateway.listen': /^Gateway\.listen\(\) options/,
  'Gateway.stop': /^Gateway\.stop\(\) options/,
  'Gateway.handleSignals': /^Gateway\.handleSignals\(\) options/,
  route: /^route\("options-echo\.say"\) options/,
  'new MemoryIdempotencyStore': /^MemoryIdempotencyStore options/,
  'new RedisIdempotencyStore': /^RedisIdempotencyStore options/,
  keelGateway: /^keelGateway options/,
};

describe('an options object that is not an object', () => {
  for (const [label, value] of bad) {
    it(`is refused everywhere with InvalidArgumentError when it is ${label}`, async () => {
      for (const [name, call] of calls(value)) {
        const error = await failure(call);
        expect(error, name).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message, name).toMatch(/options must be an options object; received /);
      }
    });
  }

  it('names the call in the message', async () => {
    for (const [name, call] of calls(null)) {
      expect(labels[name], `a label for ${name}`).toBeDefined();
      expect(((await failure(call)) as Error).message, name).toMatch(labels[name] as RegExp);
    }
  });

  it('undefined still means the defaults', async () => {
    await expect(gather([], undefined)).resolves.toEqual([]);
    await expect(sleep(0, undefined)).resolves.toBeUndefined();
    expect(new Circle().toSVG(undefined)).toContain('<circle');
    const T = token<number>('t');
    await expect(
      new Container().register(T, { lifetime: 'singleton', factory: () => 1 }).resolveAsync(T, undefined),
    ).resolves.toBe(1);
  });
});

describe('an options object with a key the call does not know', () => {
  it('is refused everywhere, naming the call, the key and the known options', async () => {
    for (const [name, call] of calls({ maxQueue: 5 })) {
      const error = await failure(call);
      expect(error, name).toBeInstanceOf(InvalidArgumentError);
      const message = (error as Error).message;
      expect(message, name).toMatch(labels[name] as RegExp);
      expect(message, name).toMatch(/: unknown option "maxQueue"; known options: \S/);
    }
  });

  it('a typo of a real option no longer switches its feature off silently', () => {
    expect(() => new Pool({ concurrency: 1, maxQueue: 5 } as never)).toThrow(
      /Pool options: unknown option "maxQueue"; known options: .*maxQueued/,
    );
    expect(() => new EventBus({ error: 'collect' } as never)).toThrow(
      /EventBus options: unknown option "error"; known options: .*errors/,
    );
  });
});
