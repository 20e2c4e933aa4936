import { expect, it } from 'vitest';
import { startDistributed } from './shapes-harness.ts';
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
