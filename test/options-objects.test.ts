import { afterAll, describe, expect, it } from 'vitest';
import {
  asCompleted,
  bridgeEvents,
  Circle,
  Container,
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
afterAll(async () => {
  await (await transport).close();
  await (await queue).close();
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
  ];
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
