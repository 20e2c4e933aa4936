import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RoleProcess,
  type Running,
  request,
  startDistributed,
  startRole,
  until,
} from './shapes-harness.ts';
import { runHttpSuite } from './shapes-http-suite.ts';

const natsUrl = process.env.KEEL_NATS_URL;
const redisUrl = process.env.KEEL_REDIS_URL;

// Engines come from scripts/with-engines.ts; without them this file fails rather than skips.
it('has NATS and Redis (run under node scripts/with-engines.ts)', () => {
  expect(natsUrl, 'KEEL_NATS_URL').toMatch(/^nats:\/\//);
  expect(redisUrl, 'KEEL_REDIS_URL').toMatch(/^redis:\/\//);
});

if (natsUrl !== undefined && redisUrl !== undefined) {
  // A database of its own, so render jobs and idempotency keys of other runs are not seen.
  const db = 1 + Math.floor(Math.random() * 14);
  runHttpSuite('each role in its own process over nats:// and redis://', () =>
    startDistributed(natsUrl, `${redisUrl.replace(/\/\d*$/, '')}/${db}`),
  );
}

if (natsUrl !== undefined && redisUrl !== undefined) {
  describe('two gateways over one NATS and one Redis', () => {
    const db = 1 + Math.floor(Math.random() * 14);
    const queueUrl = `${redisUrl.replace(/\/\d*$/, '')}/${db}`;
    let running: Running;
    let second: RoleProcess;
    beforeAll(async () => {
      running = await startDistributed(natsUrl, queueUrl);
      second = await startRole('gateway', {
        TRANSPORT_URL: natsUrl,
        QUEUE_URL: queueUrl,
        INSTANCE_ID: 'gw-2',
      });
    }, 90_000);
    afterAll(async () => {
      await second?.stop();
      await running?.stop();
    }, 60_000);

    it('the same Idempotency-Key sent to both at once creates one shape; both answer it alike', async () => {
      const key = randomUUID();
      const body = { kind: 'triangle', a: 5, b: 5, c: 5.5 };
      const send = (base: string) =>
        request(base, '/api/shapes', { body, headers: { 'idempotency-key': key } });
      const first = await Promise.all([
        send(running.url),
        send(second.url),
        send(running.url),
        send(second.url),
      ]);
      // A repeat that meets the first still running is told 409 (retry); the others replay its answer.
      expect(first.every((a) => a.status === 201 || a.status === 409)).toBe(true);
      const created = first.filter((a) => a.status === 201);
      expect(new Set(created.map((a) => a.json.id)).size).toBe(1);
      // Once it has finished, either gateway answers the repeat with the first response.
      await until(async () => (await send(second.url)).status === 201, 10_000);
      const [a, b] = await Promise.all([send(running.url), send(second.url)]);
      expect(a.json).toEqual(b.json);
      // The replay is the first response, headers included, whichever gateway kept it.
      expect(b.headers.get('location')).toBe(a.headers.get('location'));
      const stored = (await request(running.url, '/api/shapes?kind=triangle&limit=100')).json.items.filter(
        (s: { dimensions: { c: number } }) => s.dimensions.c === 5.5,
      );
      expect(stored).toHaveLength(1);
      expect(stored[0].id).toBe(a.json.id);
    });
  });
}
