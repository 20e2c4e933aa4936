/** Contract: queue groups give each message to one member (or are refused where the engine cannot). */
import { describe, expect, it } from 'vitest';
import { TransportUnsupportedError } from '../transport-errors.ts';
import { type ContractContext, collector, sleep } from './context.contract.ts';

export function queueGroupsContract(ctx: ContractContext): void {
  const { open, pair, subject, queueGroups } = ctx;
  describe('queue groups', () => {
    if (queueGroups) {
      it('gives each message to one member of a group, and a copy to subscribers outside it', async () => {
        const [a, b] = await pair();
        const c = await open();
        const s = subject();
        const m1 = collector<number>();
        const m2 = collector<number>();
        const outside = collector<number>();
        await Promise.all([
          b.subscribe(s, m1.handler, { queue: 'workers' }).ready,
          c.subscribe(s, m2.handler, { queue: 'workers' }).ready,
          c.subscribe(s, outside.handler).ready,
        ]);
        const n = 200;
        for (let i = 0; i < n; i++) await a.publish(s, i);
        await outside.waitFor(n);
        await sleep(100);
        const seen = [...m1.items, ...m2.items].map((i) => i.payload).sort((x, y) => x - y);
        expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
        expect(m1.items.length).toBeGreaterThan(0);
        expect(m2.items.length).toBeGreaterThan(0);
      });

      it('balances requests across a group', async () => {
        const [a, b] = await pair();
        const c = await open();
        const s = subject();
        await b.subscribe(s, () => 'b', { queue: 'svc' }).ready;
        await c.subscribe(s, () => 'c', { queue: 'svc' }).ready;
        const replies = await Promise.all(Array.from({ length: 60 }, () => a.request(s, null)));
        expect(new Set(replies)).toEqual(new Set(['b', 'c']));
      });

      it('a member that leaves its group answers the requests already on their way to it: none waits for its deadline', async () => {
        const [a, b] = await pair();
        const c = await open();
        const s = subject();
        const leaving = b.subscribe(s, () => 'b', { queue: 'svc' });
        await leaving.ready;
        await c.subscribe(s, () => 'c', { queue: 'svc' }).ready;
        const timeoutMs = 3000;
        const send = () =>
          Array.from({ length: 50 }, () =>
            a.request(s, null, { timeoutMs }).then(
              (reply) => ({ reply, error: undefined as unknown }),
              (error: unknown) => ({ reply: undefined, error }),
            ),
          );
        const sent = Date.now();
        // The first batch goes out (an engine's client writes it in a microtask) and reaches the members.
        const first = send();
        for (let i = 0; i < 10; i++) await Promise.resolve();
        // The second is on its way as the member leaves, while this process is too busy to read the
        // first: both are in the member's hands, unread, when it unsubscribes.
        const second = send();
        const busyUntil = Date.now() + 50;
        while (Date.now() < busyUntil) {}
        leaving();
        const outcomes = await Promise.all([...first, ...second]);
        expect(Date.now() - sent).toBeLessThan(timeoutMs);
        for (const { reply, error } of outcomes) {
          if (error === undefined) expect(['b', 'c']).toContain(reply);
          else expect(error).toMatchObject({ retryable: true });
        }
      });
    } else {
      it('refuses a queue group with TransportUnsupportedError naming the alternative', async () => {
        const [, b] = await pair();
        expect(() => b.subscribe(subject(), () => {}, { queue: 'workers' })).toThrow(
          TransportUnsupportedError,
        );
        expect(() => b.subscribe(subject(), () => {}, { queue: 'workers' })).toThrow(/nats:\/\//);
      });
    }
  });
}
