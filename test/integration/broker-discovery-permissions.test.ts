/**
 * Discovery under NATS permissions: a broker whose user may not subscribe to `$SRV.>` fails to start
 * saying so (it would otherwise serve unseen by discovery), and `discovery: false` serves all the same.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Engine, startNats } from '../../scripts/engines.ts';
import { createBroker, defineService } from '../../src/broker/index.ts';
import { TransportPermissionError } from '../../src/transport/index.ts';
import { engineUrl } from './engine-urls.ts';
import { discoveryFixtureContract } from './fixtures/discovery-contract.ts';
import { captureStderr } from './redis-probes.ts';

// The test starts its own server; the shared one must exist all the same, as for every integration test.
engineUrl('KEEL_NATS_URL');

const config = `
authorization {
  users = [
    {
      user: limited, password: secret,
      permissions: {
        publish: { allow: ["allowed.>", "_INBOX.>"] },
        subscribe: { allow: ["allowed.>", "_INBOX.>"] }
      }
    }
  ]
}
`;

let dir = '';
let engine: Engine | undefined;
let url = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keel-discovery-permissions-'));
  const file = join(dir, 'nats.conf');
  writeFileSync(file, config);
  engine = await startNats({ args: ['-c', file] });
  url = engine.url.replace('nats://', 'nats://limited:secret@');
});

afterAll(async () => {
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('a broker that may not answer $SRV fails to start naming the subject; discovery: false serves', async () => {
  // Its subjects are `allowed.v1.…`, which the user may use; `$SRV.…` it may not.
  const contract = discoveryFixtureContract('allowed');
  const service = defineService(contract, { actions: { area: (n) => n * n, whoami: () => 'me' } });
  const stderr = captureStderr();
  const refused = await createBroker({ transport: url, services: [service] }).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(TransportPermissionError);
  expect((refused as Error).message).toMatch(/\$SRV\./);
  expect(stderr.text()).toMatch(/KEEL_TRANSPORT_PERMISSION/);

  await using broker = await createBroker({ transport: url, services: [service], discovery: false });
  await using caller = await createBroker({ transport: url, contracts: [contract] });
  await expect(caller.client(contract).area(3)).resolves.toBe(9);
  expect(broker.metrics().actions.find((a) => a.action === 'allowed.area')).toMatchObject({
    side: 'serve',
    calls: 1,
  });
});
