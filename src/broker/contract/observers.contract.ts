/** Contract: `broker.on` hears every event of a key from every instance, outside any queue group. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.ts';
import { openTransport } from '../../transport/index.ts';
import { BrokerStoppedError } from '../broker-errors.ts';
import { maxPending } from '../observe.ts';
import { defineService } from '../service.ts';
import { eventSubject } from '../subjects.ts';
import { type SuiteContext, shapesContract, sleep, until } from './context.contract.ts';

/** Runs `body` with `keel:broker.unhandled` reports collected and their stderr lines held back. */
async function withReports(body: (reports: { context: string; error: unknown }[]) => Promise<void>) {
  const reports: { context: string; error: unknown }[] = [];
  const onReport = (message: unknown) => reports.push(message as { context: string; error: unknown });
  const write = process.stderr.write;
  subscribe('keel:broker.unhandled', onReport);
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await body(reports);
  } finally {
    process.stderr.write = write;
    unsubscribe('keel:broker.unhandled', onReport);
  }
}

export function observersContract(ctx: SuiteContext): void {
  const { open, name } = ctx;

  describe('observers (broker.on)', () => {
    it('every observer hears every event, emitted or broadcast, while a service group still gets its one copy', async () => {
      const shapes = shapesContract(name());
      const grouped: number[] = [];
      const service = defineService(shapes, {
        actions: { area: () => 0, run: () => 0, idem: () => 0 },
        events: { [`${shapes.name}.created`]: (n: number) => void grouped.push(n) },
      });
      await open({ services: [service] });
      await open({ services: [service] });
      const a = await open({ contracts: [shapes] });
      const b = await open({ contracts: [shapes] });
      const heardA: number[] = [];
      const heardB: number[] = [];
      const onA = a.on(`${shapes.name}.created`, (n) => void heardA.push(n as number));
      const onB = b.on(`${shapes.name}.created`, (n) => void heardB.push(n as number));
      await Promise.all([onA.ready, onB.ready]);
      const emitter = await open({ contracts: [shapes] });
      for (let i = 0; i < 10; i++) await emitter.emit(`${shapes.name}.created`, i);
      await emitter.broadcast(`${shapes.name}.created`, 99);
      const all = [...Array.from({ length: 10 }, (_, i) => i), 99];
      await until('both observers heard all', () => heardA.length === 11 && heardB.length === 11);
      // One at a time, in arrival order, from one emitter.
      expect(heardA).toEqual(all);
      expect(heardB).toEqual(all);
      // The group got each emitted event once and the broadcast once per instance.
      await until('the group heard its copies', () => grouped.length === 12);
      await sleep(50);
      expect(grouped.filter((n) => n !== 99).sort((x, y) => x - y)).toEqual(all.slice(0, 10));
      expect(grouped.filter((n) => n === 99)).toHaveLength(2);
    });

    it('the listener gets the payload as its schema outputs it; invalid payloads and listener throws are reported, never thrown', async () => {
      const shapes = shapesContract(name());
      const observer = await open({ contracts: [shapes] });
      const heard: unknown[] = [];
      await withReports(async (reports) => {
        const on = observer.on(`${shapes.name}.created`, (n) => {
          if (n === 2) throw new Error('observer broke');
          heard.push(n);
        });
        await on.ready;
        // A payload the schema refuses, sent past the broker's own check by a raw publisher.
        const raw = await openTransport(ctx.url());
        try {
          await raw.publish(eventSubject(shapes.name, 1, 'created'), { v: 1, payload: 'not a number' });
          await raw.publish(eventSubject(shapes.name, 1, 'created'), { nonsense: true });
        } finally {
          await raw.close();
        }
        const emitter = await open({ contracts: [shapes] });
        await emitter.emit(`${shapes.name}.created`, 1);
        await emitter.emit(`${shapes.name}.created`, 2);
        await emitter.emit(`${shapes.name}.created`, 3);
        await until('the reports and the good events', () => reports.length === 3 && heard.length === 2);
        expect(heard).toEqual([1, 3]);
        const codes = reports.map((r) => (r.error as { code?: string }).code ?? (r.error as Error).message);
        expect(codes).toEqual(['KEEL_BROKER_VALIDATION', 'KEEL_BROKER_PROTOCOL', 'observer broke']);
        for (const r of reports) expect(r.context).toContain(`${shapes.name}.created`);
      });
    });

    it('calling the handle, disposing it, aborting its signal, or stopping the broker ends the observer', async () => {
      const shapes = shapesContract(name());
      const key = `${shapes.name}.created` as const;
      const observer = await open({ contracts: [shapes] });
      const emitter = await open({ contracts: [shapes] });
      const heard: Record<string, number[]> = { call: [], dispose: [], signal: [], stop: [], kept: [] };
      const listen = (k: string) => (n: unknown) => void heard[k]?.push(n as number);
      const byCall = observer.on(key, listen('call'));
      const controller = new AbortController();
      const bySignal = observer.on(key, listen('signal'), { signal: controller.signal });
      const kept = observer.on(key, listen('kept'));
      const other = await open({ contracts: [shapes] });
      const byStop = other.on(key, listen('stop'));
      {
        using byDispose = observer.on(key, listen('dispose'));
        await Promise.all([byCall.ready, bySignal.ready, kept.ready, byStop.ready, byDispose.ready]);
        await emitter.emit(key, 1);
        await until('all five heard the first', () => Object.values(heard).every((h) => h.length === 1));
      }
      byCall();
      byCall(); // idempotent
      controller.abort();
      await other.stop();
      await sleep(100);
      await emitter.emit(key, 2);
      await until('the kept observer heard the second', () => heard.kept?.length === 2);
      await sleep(100);
      expect(heard).toEqual({ call: [1], dispose: [1], signal: [1], stop: [1], kept: [1, 2] });
      // An already-aborted signal subscribes nothing.
      const late: number[] = [];
      const none = observer.on(key, (n) => void late.push(n as number), { signal: AbortSignal.abort() });
      await none.ready;
      await emitter.emit(key, 3);
      await until('the kept observer heard the third', () => heard.kept?.length === 3);
      expect(late).toEqual([]);
      kept();
    });

    it('a listener that holds its queue drops events past maxPending and reports the overflow once', async () => {
      const shapes = shapesContract(name());
      const observer = await open({ contracts: [shapes] });
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      let heard = 0;
      await withReports(async (reports) => {
        const on = observer.on(`${shapes.name}.created`, async () => {
          heard++;
          await gate;
        });
        await on.ready;
        const raw = await openTransport(ctx.url());
        try {
          const subject = eventSubject(shapes.name, 1, 'created');
          // The first is held by the listener; maxPending wait; 5 more are dropped.
          for (let i = 0; i < maxPending + 6; i++) raw.publish(subject, { v: 1, payload: i });
          await raw.publish(subject, { v: 1, payload: -1 });
        } finally {
          await raw.close();
        }
        await until('the overflow report', () => reports.length === 1);
        release();
        await until('the queue drained', () => heard === maxPending + 1, 20_000);
        await sleep(100);
        expect(heard).toBe(maxPending + 1);
        expect(reports).toHaveLength(1);
        expect(reports[0]?.error).toMatchObject({ code: 'KEEL_TRANSPORT_OVERFLOW' });
        on();
      });
    }, 30_000);

    it('an unknown event, a non-function listener and unknown options are refused; a stopped broker refuses', async () => {
      const shapes = shapesContract(name());
      const broker = await open({ contracts: [shapes] });
      expect(() => broker.on('nope.created' as never, () => {})).toThrow(InvalidArgumentError);
      expect(() => broker.on(`${shapes.name}.created`, 5 as never)).toThrow(/listener must be a function/);
      expect(() => broker.on(`${shapes.name}.created`, () => {}, { signl: 1 } as never)).toThrow(
        /unknown option "signl"; known options: signal/,
      );
      await broker.stop();
      expect(() => broker.on(`${shapes.name}.created`, () => {})).toThrow(BrokerStoppedError);
    });
  });
}
