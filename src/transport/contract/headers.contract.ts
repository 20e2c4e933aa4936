/** Contract: headers travel with messages and requests; bad or reserved headers are refused by name. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../errors.ts';
import type { MessageMeta } from '../transport.ts';
import { type ContractContext, collector } from './context.contract.ts';

export function headersContract(ctx: ContractContext): void {
  const { pair, subject, errors } = ctx;
  describe('headers', () => {
    const sent = {
      'x-trace-id': '4bf92f3577b34da6a3ce929d0e0e4736',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'Content-Kind': 'shape/circle',
      note: 'café ✓ a: b',
      empty: '',
    };

    it('carries the headers of a published message to every subscriber, unchanged', async () => {
      const [a, b] = await pair();
      const s = subject();
      const got = collector();
      await b.subscribe(s, got.handler).ready;
      await a.publish(s, 1, { headers: sent });
      await a.publish(s, 2);
      await got.waitFor(2);
      expect(got.items[0]?.meta).toEqual({ subject: s, isRequest: false, headers: sent });
      // A message without headers has an empty, read-only record.
      expect(got.items[1]?.meta.headers).toEqual({});
      expect(Object.isFrozen(got.items[0]?.meta.headers)).toBe(true);
      expect(Object.isFrozen(got.items[1]?.meta.headers)).toBe(true);
      expect(errors).toEqual([]);
    });

    it("carries a request's headers to its handler, without Keel's own", async () => {
      const [a, b] = await pair();
      const s = subject();
      const seen: MessageMeta[] = [];
      await b.subscribe(s, (_p, meta) => {
        seen.push(meta);
        return 'ok';
      }).ready;
      await expect(a.request(s, 1, { headers: sent })).resolves.toBe('ok');
      await expect(a.request(s, 2)).resolves.toBe('ok');
      expect(seen.map((m) => m.headers)).toEqual([sent, {}]);
    });

    it('sends the headers as they were when publish() was called', async () => {
      const [a, b] = await pair();
      const s = subject();
      const got = collector();
      await b.subscribe(s, got.handler).ready;
      const headers: Record<string, string> = { 'x-version': '1' };
      const publishing = a.publish(s, 1, { headers });
      headers['x-version'] = '2';
      headers['x-added'] = 'late';
      await publishing;
      await got.waitFor(1);
      expect(got.items[0]?.meta.headers).toEqual({ 'x-version': '1' });
    });

    it('refuses bad headers with InvalidArgumentError naming the call and the defect; nothing is sent', async () => {
      const [a, b] = await pair();
      const s = subject();
      const got = collector();
      await b.subscribe(s, got.handler, { reply: false }).ready;
      const cases: [unknown, RegExp][] = [
        ['x', /headers must be a plain object of header names to string values; received "x"/],
        [['a'], /headers must be a plain object .*; received an array of length 1/],
        [new Map([['a', 'b']]), /headers must be a plain object .*; received an instance of Map/],
        [{ 'x trace': '1' }, /header name "x trace" is not a token/],
        [{ 'x:y': '1' }, /header name "x:y" is not a token/],
        [{ '': '1' }, /header name "" is not a token/],
        [{ naïve: '1' }, /header name "naïve" is not a token/],
        [{ n: 1 }, /header "n" must have a string value; received 1/],
        [{ n: 'a\r\nx-injected: 1' }, /header "n" has a value with CR, LF or NUL/],
        [{ n: 'a\nb' }, /header "n" has a value with CR, LF or NUL/],
        [{ n: ' padded' }, /header "n" has a value with leading or trailing whitespace/],
        [
          { n: 'x'.repeat(9000) },
          /headers must hold at most 8192 bytes of names and values; received 9001 bytes/,
        ],
      ];
      for (const [headers, message] of cases) {
        const published = await a.publish(s, 1, { headers: headers as never }).catch((e: unknown) => e);
        expect(published, String(message)).toBeInstanceOf(InvalidArgumentError);
        expect((published as Error).message).toMatch(/^Transport\.publish\(\) headers/);
        expect((published as Error).message).toMatch(message);
        const requested = await a.request(s, 1, { headers: headers as never }).catch((e: unknown) => e);
        expect(requested, String(message)).toBeInstanceOf(InvalidArgumentError);
        expect((requested as Error).message).toMatch(/^Transport\.request\(\) headers/);
        expect((requested as Error).message).toMatch(message);
      }
      // Exactly at the bound is accepted; and what was refused never arrived.
      await a.publish(s, 'fits', { headers: { n: 'x'.repeat(8191) } });
      await got.waitFor(1);
      expect(got.items.map((i) => i.payload)).toEqual(['fits']);
    });

    it('refuses header names under the reserved keel- prefix, in any case', async () => {
      const [a] = await pair();
      const s = subject();
      for (const name of ['keel-timeout', 'Keel-Error', 'KEEL-anything', 'keel-']) {
        const error = await a.publish(s, 1, { headers: { [name]: '1' } }).catch((e: unknown) => e);
        expect(error, name).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message).toContain(
          `header name ${JSON.stringify(name)} is reserved (names starting with "keel-" are Keel's own)`,
        );
        await expect(a.request(s, 1, { headers: { [name]: '1' } })).rejects.toThrow(/is reserved/);
      }
      // A name that only contains the prefix further in is the user's.
      await expect(a.publish(s, 1, { headers: { 'x-keel-id': '1', keel: '2' } })).resolves.toBeUndefined();
    });
  });
}
