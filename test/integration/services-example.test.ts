/** examples/services.ts across processes on NATS: the deadline, the cancel and the trace id cross the wire. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { checkServicesExample } from '../examples/services-output.ts';
import { engineUrl } from './engine-urls.ts';

const run = promisify(execFile);

it('TRANSPORT_URL=nats://… npm run example:services serves both services from a second process', async () => {
  const example = join(import.meta.dirname, '../../examples/services.ts');
  const { stdout, stderr } = await run(process.execPath, [example], {
    env: { ...process.env, TRANSPORT_URL: engineUrl('KEEL_NATS_URL') },
    timeout: 60_000,
  });
  expect(stderr).toBe('');
  expect(stdout).toContain('services process ready');
  checkServicesExample(stdout);
}, 90_000);
