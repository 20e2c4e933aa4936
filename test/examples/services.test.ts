import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { checkServicesExample } from './services-output.ts';

const run = promisify(execFile);
const example = join(import.meta.dirname, '../../examples/services.ts');

it('npm run example:services runs on memory://: a nested call, an abort the handler sees, one trace', async () => {
  const env = { ...process.env };
  delete env.TRANSPORT_URL;
  const { stdout, stderr } = await run(process.execPath, [example], { env, timeout: 30_000 });
  expect(stderr).toBe('');
  checkServicesExample(stdout);
  expect(stdout).not.toContain('services process ready');
});
