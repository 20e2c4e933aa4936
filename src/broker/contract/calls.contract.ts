/** Contract: typed calls, balancing, versions, events, the local short-circuit, meta, middleware, scopes. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { Container, token } from '../../container/index.ts';
import { openTransport, type Transport } from '../../transport/index.ts';
import { ValidationError } from '../broker-errors.ts';
import { defineService } from '../service.ts';
import { failure, type SuiteContext, shapesContract, until } from './context.contract.ts';

export function callsContract(ctx: SuiteContext): void {
  const { open, name } = ctx;

  describe('calls', () => {
    it('a typed client calls an action served by another broker; broker.call reaches it by name', async () => {
      const shapes = shapesContract(name());
      const service = defineService(shapes, {
        actions: { area: (r) => Math.round(Math.PI * r * r), run: (p) => p, idem: (p) => p },
      });
      await open({ services: [service], nodeId: 'server-1' });
      const caller = await open({ contracts: [shapes] });
      await expect(caller.client(shapes).area({ radius: 2 })).resolves.toBe(13);
      await expect(caller.call(`${shapes.name}.run`, { a: [1, 'x'] })).resolves.toEqual({ a: [1, 'x'] });
    });

    it('balances calls over the instances of a service (one queue group per contract major)', async () => {
      const shapes = shapesContract(name());
      const service = defineService(shapes, {
        actions: { area: () => 1, run: (_p, c) => c.nodeId, idem: (p) => p },
      });
      await open({ services: [service], nodeId: 'a' });
      await open({ services: [service], nodeId: 'b' });
      const caller = await open({ contracts: [shapes] });
      const client = caller.client(shapes);
      const seen = await Promise.all(Array.from({ length: 60 }, () => client.run(null)));
      expect(new Set(seen)).toEqual(new Set(['a', 'b']));
    });

    it('runs two major versions side by side; a caller reaches the major its contract names', async () => {
      const n = name();
      const v1 = shapesContract(n, 1);
      const v2 = shapesContract(n, '2.1.0');
      expect(v2.major).toBe(2);
      const impl = (tag: string) => ({ area: () => 0, run: () => tag, idem: () => tag });
      await open({ services: [defineService(v1, { actions: impl('one') })] });
      await open({ services: [defineService(v2, { actions: impl('two') })] });
      const caller = await open({});
      await expect(caller.client(v1).run(null)).resolves.toBe('one');
      await expect(caller.client(v2).run(null)).resolves.toBe('two');
    });

    it('emit reaches one instance of each listening service; broadcast reaches every instance', async () => {
      const shapes = shapesContract(name());
      const audit = shapesContract(name('audit'));
      const got: Record<string, number[]> = { a1: [], a2: [], b: [] };
      const actions = { area: () => 0, run: () => 0, idem: () => 0 };
      const listener = (into: number[]) =>
        defineService(shapes, {
          actions,
          events: { [`${shapes.name}.created`]: (n: number) => void into.push(n) },
        });
      await open({ services: [listener(got.a1 as number[])] });
      await open({ services: [listener(got.a2 as number[])] });
      const other = defineService(audit, {
        actions,
        listens: [shapes],
        events: { [`${shapes.name}.created`]: (n: number) => void got.b?.push(n) },
      });
      await open({ services: [other] });
      const emitter = await open({ contracts: [shapes] });
      for (let i = 0; i < 10; i++) await emitter.emit(`${shapes.name}.created`, i);
      await until(
        'ten events in each group',
        () => (got.a1?.length ?? 0) + (got.a2?.length ?? 0) === 10 && got.b?.length === 10,
      );
      await emitter.broadcast(`${shapes.name}.created`, 99);
      await until('the broadcast everywhere', () =>
        [got.a1, got.a2, got.b].every((list) => list?.includes(99)),
      );
      expect([...(got.a1 ?? []), ...(got.a2 ?? [])].filter((n) => n !== 99).sort((x, y) => x - y)).toEqual([
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
      ]);
      // An event that fails its schema is refused before it is sent.
      await expect(emitter.emit(`${shapes.name}.created`, 'x' as never)).rejects.toBeInstanceOf(
        ValidationError,
      );
    });

    it('a listener that throws is reported on keel:broker.unhandled, and the next event still arrives', async () => {
      const shapes = shapesContract(name());
      const got: number[] = [];
      const reports: { context: string; error: unknown }[] = [];
      const onReport = (message: unknown) => reports.push(message as { context: string; error: unknown });
      const service = defineService(shapes, {
        actions: { area: () => 0, run: () => 0, idem: () => 0 },
        events: {
          [`${shapes.name}.created`]: (n: number) => {
            if (n === 1) throw new Error('listener broke');
            got.push(n);
          },
        },
      });
      const write = process.stderr.write;
      subscribe('keel:broker.unhandled', onReport);
      // The sink also writes to stderr; this test expects that line, so it is not printed.
      process.stderr.write = (() => true) as typeof process.stderr.write;
      try {
        const broker = await open({ services: [service] });
        await broker.emit(`${shapes.name}.created`, 1);
        await broker.emit(`${shapes.name}.created`, 2);
        await until('the report and the next event', () => reports.length === 1 && got.length === 1);
      } finally {
        process.stderr.write = write;
        unsubscribe('keel:broker.unhandled', onReport);
      }
      expect(reports[0]).toMatchObject({
        context: expect.stringContaining(`${shapes.name}.created`),
        error: expect.objectContaining({ message: 'listener broke' }),
      });
      expect(got).toEqual([2]);
    });

    it('a call served by the same broker skips the wire, yet is validated and traced like a remote one', async () => {
      const shapes = shapesContract(name());
      const service = defineService(shapes, {
        actions: { area: (r) => r * 10, run: (p) => p, idem: (p) => p },
      });
      const inner = await openTransport(ctx.url());
      let requests = 0;
      const counted = new Proxy(inner, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver);
          if (key === 'request')
            return (...args: unknown[]) => {
              requests++;
              return (value as (...a: unknown[]) => unknown).apply(target, args);
            };
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }) as Transport;
      const traced: unknown[] = [];
      const onStart = (message: unknown) => traced.push(message);
      subscribe('tracing:keel:broker.call:start', onStart);
      try {
        const broker = await open({ transport: counted, services: [service] });
        await expect(broker.client(shapes).area({ radius: 2 })).resolves.toBe(20);
        const refused = await failure(broker.client(shapes).area({ radius: -1 }));
        expect(refused).toBeInstanceOf(ValidationError);
        expect(refused).toMatchObject({ target: 'params', code: 'KEEL_BROKER_VALIDATION' });
        expect(requests).toBe(0);
        expect(traced).toEqual([
          expect.objectContaining({ action: `${shapes.name}.area`, local: true }),
          expect.objectContaining({ action: `${shapes.name}.area`, local: true }),
        ]);
        const wired = await open({ transport: counted, services: [service], preferLocal: false });
        await expect(wired.client(shapes).area({ radius: 3 })).resolves.toBe(30);
        expect(requests).toBe(1);
        expect(traced.at(-1)).toMatchObject({ local: false });
      } finally {
        unsubscribe('tracing:keel:broker.call:start', onStart);
        await inner.close();
      }
    });

    it('onServed names the broker that answered: the remote server, or this broker for a local call', async () => {
      const shapes = shapesContract(name());
      const service = defineService(shapes, {
        actions: { area: () => 1, run: () => 0, idem: (p) => p },
      });
      await open({ services: [service], nodeId: 'server-9' });
      const caller = await open({ contracts: [shapes], nodeId: 'caller-1' });
      const seen: string[] = [];
      await expect(
        caller.client(shapes).area({ radius: 1 }, { onServed: (node) => seen.push(node) }),
      ).resolves.toBe(1);
      expect(seen).toEqual(['server-9']);
      // A failed call tells nobody; its error carries the node instead.
      const refused = await failure(
        caller.client(shapes).area({ radius: -1 }, { onServed: (node) => seen.push(node) }),
      );
      expect(refused).toMatchObject({ code: 'KEEL_BROKER_VALIDATION', nodeId: 'server-9' });
      expect(seen).toEqual(['server-9']);
      const local = await open({ services: [service], nodeId: 'local-3' });
      await local.call(`${shapes.name}.area`, { radius: 1 }, { onServed: (node) => seen.push(node) });
      expect(seen).toEqual(['server-9', 'local-3']);
      // A listener that throws is reported, and the call still resolves.
      const reports: unknown[] = [];
      const onReport = (message: unknown) => reports.push(message);
      const write = process.stderr.write;
      subscribe('keel:broker.unhandled', onReport);
      process.stderr.write = (() => true) as typeof process.stderr.write;
      try {
        const thrown = () => {
          throw new Error('listener broke');
        };
        await expect(caller.client(shapes).area({ radius: 1 }, { onServed: thrown })).resolves.toBe(1);
      } finally {
        process.stderr.write = write;
        unsubscribe('keel:broker.unhandled', onReport);
      }
      expect(reports).toEqual([expect.objectContaining({ context: expect.stringContaining('onServed') })]);
      await expect(caller.client(shapes).area({ radius: 1 }, { onServed: 'x' as never })).rejects.toThrow(
        /onServed must be a function/,
      );
    });

    it('meta reaches the handler and nested calls; middleware wraps calls in registration order', async () => {
      const shapes = shapesContract(name());
      const order: string[] = [];
      const service = defineService(shapes, {
        actions: {
          area: () => 0,
          run: (_p, c) => c.call(`${shapes.name}.idem`, null),
          idem: (_p, c) => ({ ...c.meta }),
        },
      });
      const server = await open({ services: [service], preferLocal: false });
      server.use({
        serve: async (c, _params, next) => {
          order.push(`serve-1 ${c.action}`);
          if (c.meta.authorization !== 'Bearer t') throw new Error('no token');
          return next();
        },
      });
      server.use({
        serve: (_c, _params, next) => {
          order.push('serve-2');
          return next();
        },
      });
      const caller = await open({ contracts: [shapes] });
      caller.use({
        call: (request, next) => {
          order.push('call-1');
          request.meta.authorization = 'Bearer t';
          return next();
        },
      });
      caller.use({
        call: (request, next) => {
          order.push(`call-2 ${request.depth}`);
          return next();
        },
      });
      await expect(caller.client(shapes).run(null, { meta: { tenant: 'acme' } })).resolves.toEqual({
        authorization: 'Bearer t',
        tenant: 'acme',
      });
      expect(order.slice(0, 4)).toEqual(['call-1', 'call-2 1', `serve-1 ${shapes.name}.run`, 'serve-2']);
      // Without the token the serve middleware refuses, and the caller hears why.
      const bare = await open({ contracts: [shapes] });
      await expect(bare.client(shapes).idem(null)).rejects.toMatchObject({
        code: 'KEEL_BROKER_REMOTE',
        message: 'no token',
      });
    });

    it('runs each served call in its own container scope, disposed when the call ends', async () => {
      const shapes = shapesContract(name());
      const Session = token<{ id: number; disposed: boolean }>('session');
      const container = new Container();
      let next = 0;
      const made: { id: number; disposed: boolean }[] = [];
      container.register(Session, {
        lifetime: 'scoped',
        factory: () => {
          const s = { id: next++, disposed: false };
          made.push(s);
          return s;
        },
        dispose: (s) => {
          s.disposed = true;
        },
      });
      const service = defineService(shapes, {
        actions: { area: () => 0, run: (_p, c) => c.scope?.resolve(Session).id, idem: (p) => p },
      });
      await open({ services: [service], container });
      const caller = await open({ contracts: [shapes] });
      const ids = await Promise.all([caller.client(shapes).run(null), caller.client(shapes).run(null)]);
      expect(new Set(ids).size).toBe(2);
      await until('both scopes disposed', () => made.length === 2 && made.every((s) => s.disposed));
      await container.dispose();
    });
  });
}
