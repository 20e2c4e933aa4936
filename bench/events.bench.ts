/**
 * EventBus against the emitters people pick instead (node:events, eventemitter3, mitt, eventemitter2,
 * emittery, an RxJS Subject), with a plain loop over an array of functions as the floor.
 */
import { EventEmitter } from 'node:events';
import Emittery from 'emittery';
import eventemitter2 from 'eventemitter2';
import { EventEmitter as EventEmitter3 } from 'eventemitter3';
import mittModule from 'mitt';
import { Subject as RxSubject } from 'rxjs';
import { EventBus } from '../src/index.ts';
import { type BestSpread, type Candidate, run, spread, spreadVsBest, target } from './harness.ts';

interface Tick {
  readonly n: number;
}
type Events = {
  tick: Tick;
  'order.item.added': Tick;
};

// Both are CommonJS-typed packages whose default export is the function itself at run time.
const mitt = mittModule as unknown as typeof mittModule.default;
const EventEmitter2 = eventemitter2 as unknown as typeof eventemitter2.EventEmitter2;

const payload: Tick = { n: 1 };
let sink = 0;
/** Fresh listeners for each candidate, so no two libraries share a function's feedback. */
const listeners = (count: number): ((p: Tick) => void)[] =>
  Array.from({ length: count }, () => (p: Tick) => {
    sink += p.n;
  });
const asyncListeners = (count: number): ((p: Tick) => Promise<void>)[] =>
  Array.from({ length: count }, () => async (p: Tick) => {
    sink += p.n;
  });

/** The emit candidates for `count` listeners on one topic. */
function emitCandidates(count: number): Candidate[] {
  const loopFns = listeners(count);
  const bus = new EventBus<Events>();
  for (const f of listeners(count)) bus.on('tick', f);
  const node = new EventEmitter();
  node.setMaxListeners(0);
  for (const f of listeners(count)) node.on('tick', f);
  const ee3 = new EventEmitter3();
  for (const f of listeners(count)) ee3.on('tick', f);
  const m = mitt<Events>();
  for (const f of listeners(count)) m.on('tick', f);
  const ee2 = new EventEmitter2();
  for (const f of listeners(count)) ee2.on('tick', f);
  const emittery = new Emittery<Events>();
  for (const f of listeners(count)) emittery.on('tick', f);
  const rx = new RxSubject<Tick>();
  for (const f of listeners(count)) rx.subscribe(f);
  return [
    {
      name: 'plain loop',
      run: (n) => {
        for (let i = 0; i < n; i++)
          for (let j = 0; j < loopFns.length; j++) (loopFns[j] as (p: Tick) => void)(payload);
      },
    },
    {
      name: 'keel EventBus',
      run: (n) => {
        for (let i = 0; i < n; i++) bus.emit('tick', payload);
      },
    },
    {
      name: 'node:events',
      run: (n) => {
        for (let i = 0; i < n; i++) node.emit('tick', payload);
      },
    },
    {
      name: 'eventemitter3',
      run: (n) => {
        for (let i = 0; i < n; i++) ee3.emit('tick', payload);
      },
    },
    {
      name: 'mitt',
      run: (n) => {
        for (let i = 0; i < n; i++) m.emit('tick', payload);
      },
    },
    {
      name: 'eventemitter2',
      run: (n) => {
        for (let i = 0; i < n; i++) ee2.emit('tick', payload);
      },
    },
    {
      name: 'rxjs Subject',
      run: (n) => {
        for (let i = 0; i < n; i++) rx.next(payload);
      },
    },
    {
      name: 'emittery (async only)',
      run: async (n) => {
        for (let i = 0; i < n; i++) await emittery.emit('tick', payload);
      },
    },
  ];
}

const libraries = [
  'node:events',
  'eventemitter3',
  'mitt',
  'eventemitter2',
  'rxjs Subject',
  'emittery (async only)',
];

/** Names the library that was fastest in most rounds, for a verdict's label. */
const leader = (s: BestSpread): string => `${s.fastest} fastest in ${s.fastestRounds} of ${s.runs} rounds`;

export default async function (): Promise<void> {
  const one = await run({
    title: 'emit to 1 listener',
    unit: 'emit',
    baseline: 'plain loop',
    subject: 'keel EventBus',
    candidates: emitCandidates(1),
  });
  const ten = await run({
    title: 'emit to 10 listeners',
    unit: 'emit',
    baseline: 'plain loop',
    subject: 'keel EventBus',
    candidates: emitCandidates(10),
  });

  // The same ten listeners, subscribed to the ancestor `order` of the emitted topic `order.item.added`.
  const flat = new EventBus<Events>();
  for (const f of listeners(10)) flat.on('tick', f);
  const nested = new EventBus<Events>();
  for (const f of listeners(10)) nested.on('order', f);
  const ee2 = new EventEmitter2({ wildcard: true, delimiter: '.' });
  for (const f of listeners(10)) ee2.on('order.**', f);
  const parent = await run({
    title: 'emit reaching 10 listeners through a parent topic (order.item.added → order)',
    unit: 'emit',
    baseline: 'keel flat (10 on the topic)',
    subject: 'keel through parent',
    candidates: [
      {
        name: 'keel flat (10 on the topic)',
        run: (n) => {
          for (let i = 0; i < n; i++) flat.emit('tick', payload);
        },
      },
      {
        name: 'keel through parent',
        run: (n) => {
          for (let i = 0; i < n; i++) nested.emit('order.item.added', payload);
        },
      },
      {
        name: 'eventemitter2 wildcard (order.**)',
        run: (n) => {
          for (let i = 0; i < n; i++) ee2.emit('order.item.added', payload);
        },
      },
    ],
  });

  const rotation = await manyTopicsCase();
  const levels = await threeLevelsCase();
  const subscribe = await subscribeCase();
  const async = await emitAsyncCase();

  console.log('Targets:');
  target('emit to 1: keel vs plain loop', spread(one, 'keel EventBus', 'plain loop'), 3);
  const oneBest = spreadVsBest(one, 'keel EventBus', libraries);
  target(`emit to 1: keel vs the fastest library each round (${leader(oneBest)})`, oneBest, 1);
  target('emit to 10: keel vs plain loop', spread(ten, 'keel EventBus', 'plain loop'), 1.5);
  const tenBest = spreadVsBest(ten, 'keel EventBus', libraries);
  target(`emit to 10: keel vs the fastest library each round (${leader(tenBest)})`, tenBest, 1);
  target(
    'emit to 10 through a parent vs flat',
    spread(parent, 'keel through parent', 'keel flat (10 on the topic)'),
    1.2,
  );
  const rotationBest = spreadVsBest(rotation, 'keel EventBus', rotationLibraries);
  target(
    `100 topics in rotation: keel vs the fastest library each round (${leader(rotationBest)})`,
    rotationBest,
    1,
  );
  const levelsBest = spreadVsBest(levels, 'keel EventBus', levelLibraries);
  target(
    `three levels (order.item.added): keel vs the fastest library each round (${leader(levelsBest)})`,
    levelsBest,
    1,
  );
  target(
    'subscribe + unsubscribe: keel vs node:events',
    spread(subscribe, 'keel EventBus', 'node:events'),
    1,
  );
  target(
    'emitAsync to 10 async listeners: emittery vs keel (speed-up)',
    spread(async, 'emittery', 'keel EventBus'),
    5,
    'at least',
  );
  if (sink === 0) console.log('(no listener ran)');
}

const rotationLibraries = ['node:events', 'eventemitter3', 'mitt'];

/** The topic lookup when one call site emits many different topics, as an application does. */
async function manyTopicsCase() {
  const topics = Array.from({ length: 100 }, (_, i) => `topic.${i}`);
  const bus = new EventBus<Record<string, Tick>>();
  const node = new EventEmitter();
  const ee3 = new EventEmitter3();
  const m = mitt<Record<string, Tick>>();
  for (const t of topics) {
    const [a, b, c, d] = listeners(4) as [
      (p: Tick) => void,
      (p: Tick) => void,
      (p: Tick) => void,
      (p: Tick) => void,
    ];
    bus.on(t, a);
    node.on(t, b);
    ee3.on(t, c);
    m.on(t, d);
  }
  const each = (emit: (topic: string) => void) => (n: number) => {
    for (let i = 0; i < n; i++) emit(topics[i % 100] as string);
  };
  return run({
    title: 'emit to 1 listener, 100 topics in rotation from one call site',
    unit: 'emit',
    baseline: 'node:events',
    subject: 'keel EventBus',
    candidates: [
      { name: 'node:events', run: each((t) => node.emit(t, payload)) },
      { name: 'keel EventBus', run: each((t) => bus.emit(t, payload)) },
      { name: 'eventemitter3', run: each((t) => ee3.emit(t, payload)) },
      { name: 'mitt', run: each((t) => m.emit(t, payload)) },
    ],
  });
}

async function subscribeCase() {
  const f = () => {};
  const bus = new EventBus<Events>();
  const node = new EventEmitter();
  const ee3 = new EventEmitter3();
  const m = mitt<Events>();
  const ee2 = new EventEmitter2();
  const emittery = new Emittery<Events>();
  const rx = new RxSubject<Tick>();
  return run({
    title: 'subscribe + unsubscribe one listener',
    unit: 'on + off',
    baseline: 'node:events',
    subject: 'keel EventBus',
    candidates: [
      {
        name: 'node:events',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            node.on('tick', f);
            node.off('tick', f);
          }
        },
      },
      {
        name: 'keel EventBus',
        run: (n) => {
          for (let i = 0; i < n; i++) bus.on('tick', f)();
        },
      },
      {
        name: 'eventemitter3',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            ee3.on('tick', f);
            ee3.off('tick', f);
          }
        },
      },
      {
        name: 'mitt',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            m.on('tick', f);
            m.off('tick', f);
          }
        },
      },
      {
        name: 'eventemitter2',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            ee2.on('tick', f);
            ee2.off('tick', f);
          }
        },
      },
      {
        name: 'emittery',
        run: (n) => {
          for (let i = 0; i < n; i++) emittery.on('tick', f)();
        },
      },
      {
        name: 'rxjs Subject',
        run: (n) => {
          for (let i = 0; i < n; i++) rx.subscribe(f).unsubscribe();
        },
      },
    ],
  });
}

async function emitAsyncCase() {
  const loopFns = asyncListeners(10);
  const bus = new EventBus<Events>();
  for (const f of asyncListeners(10)) bus.on('tick', f);
  const emittery = new Emittery<Events>();
  for (const f of asyncListeners(10)) emittery.on('tick', f);
  const ee2 = new EventEmitter2();
  for (const f of asyncListeners(10)) ee2.on('tick', f);
  return run({
    title: 'emitAsync to 10 async listeners (awaiting all)',
    unit: 'emit',
    baseline: 'plain loop + Promise.all',
    subject: 'keel EventBus',
    candidates: [
      {
        name: 'plain loop + Promise.all',
        run: async (n) => {
          for (let i = 0; i < n; i++) {
            const pending: Promise<void>[] = [];
            for (let j = 0; j < loopFns.length; j++)
              pending.push((loopFns[j] as (p: Tick) => Promise<void>)(payload));
            await Promise.all(pending);
          }
        },
      },
      {
        name: 'keel EventBus',
        run: async (n) => {
          for (let i = 0; i < n; i++) await bus.emitAsync('tick', payload);
        },
      },
      {
        name: 'emittery',
        run: async (n) => {
          for (let i = 0; i < n; i++) await emittery.emit('tick', payload);
        },
      },
      {
        name: 'eventemitter2',
        run: async (n) => {
          for (let i = 0; i < n; i++) await ee2.emitAsync('tick', payload);
        },
      },
    ],
  });
}

const levelLibraries = ['node:events', 'eventemitter3', 'mitt', 'eventemitter2', 'rxjs Subject'];

/**
 * One listener on each level of `order.item.added`: one keel emit reaches all three (the topic, then
 * `order.item`, then `order`); a flat emitter has no hierarchy, so it emits once per level, in that order.
 */
async function threeLevelsCase() {
  const levels = ['order.item.added', 'order.item', 'order'] as const;
  const bus = new EventBus<Events>();
  for (const [i, f] of listeners(3).entries()) bus.on(levels[i] as (typeof levels)[number], f);
  const node = new EventEmitter();
  const ee3 = new EventEmitter3();
  const m = mitt<Record<string, Tick>>();
  const ee2 = new EventEmitter2();
  const rx = levels.map(() => new RxSubject<Tick>());
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    const [a, b, c, d, e] = listeners(5) as [
      (p: Tick) => void,
      (p: Tick) => void,
      (p: Tick) => void,
      (p: Tick) => void,
      (p: Tick) => void,
    ];
    node.on(level, a);
    ee3.on(level, b);
    m.on(level, c);
    ee2.on(level, d);
    rx[i]?.subscribe(e);
  }
  const [rx0, rx1, rx2] = rx as [RxSubject<Tick>, RxSubject<Tick>, RxSubject<Tick>];
  return run({
    title: 'emit to a three-level topic, one listener per level (order.item.added → order.item → order)',
    unit: 'event (3 listeners)',
    baseline: 'node:events',
    subject: 'keel EventBus',
    candidates: [
      {
        name: 'node:events',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            node.emit('order.item.added', payload);
            node.emit('order.item', payload);
            node.emit('order', payload);
          }
        },
      },
      {
        name: 'keel EventBus',
        run: (n) => {
          for (let i = 0; i < n; i++) bus.emit('order.item.added', payload);
        },
      },
      {
        name: 'eventemitter3',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            ee3.emit('order.item.added', payload);
            ee3.emit('order.item', payload);
            ee3.emit('order', payload);
          }
        },
      },
      {
        name: 'mitt',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            m.emit('order.item.added', payload);
            m.emit('order.item', payload);
            m.emit('order', payload);
          }
        },
      },
      {
        name: 'eventemitter2',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            ee2.emit('order.item.added', payload);
            ee2.emit('order.item', payload);
            ee2.emit('order', payload);
          }
        },
      },
      {
        name: 'rxjs Subject',
        run: (n) => {
          for (let i = 0; i < n; i++) {
            rx0.next(payload);
            rx1.next(payload);
            rx2.next(payload);
          }
        },
      },
    ],
  });
}
