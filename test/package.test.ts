/** The package as a person installs it: `npm pack` builds dist/ (prepare), and the tarball works on its own. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..');
const modules = [
  'singleton',
  'registry',
  'shapes',
  'events',
  'concurrency',
  'container',
  'transport',
  'jobs',
  'broker',
];
let dir: string;
let installed: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keel-package-'));
  // `npm pack` runs the prepare script, which is what builds dist/ for an install from a git URL.
  await run('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: repo, timeout: 120_000 });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (tarball === undefined) throw new Error(`npm pack left no tarball in ${dir}`);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  // Keel has no runtime dependencies, so the install needs no registry.
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', join(dir, tarball)], {
    cwd: dir,
    timeout: 120_000,
  });
  installed = join(dir, 'node_modules', 'keel');
}, 240_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the installed package', () => {
  it('ships the build, the declarations, the license and the docs the README links to', () => {
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'LICENSE', 'README.md', 'package.json']) {
      expect(existsSync(join(installed, file)), file).toBe(true);
    }
    const readme = readFileSync(join(installed, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
      .map((m) => m[1] ?? '')
      .filter((link) => !/^[a-z]+:/.test(link));
    expect(links.length).toBeGreaterThan(3);
    for (const link of links) expect(existsSync(join(installed, link)), link).toBe(true);
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(manifest.license).toBe('MIT');
    expect(manifest.repository?.url).toMatch(/^git\+https:\/\//);
  });

  it('loads from its main entry and from one entry per module, the same classes through both', async () => {
    const script = `
      const keel = await import('keel');
      const out = { main: Object.keys(keel).length };
      for (const m of ${JSON.stringify(modules)}) {
        const sub = await import('keel/' + m);
        const shared = Object.keys(sub).filter((k) => k in keel);
        out[m] = { names: Object.keys(sub).length, same: shared.every((k) => sub[k] === keel[k]) };
      }
      console.log(JSON.stringify(out));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: dir,
      timeout: 30_000,
    });
    const out = JSON.parse(stdout) as Record<string, number | { names: number; same: boolean }>;
    expect(out.main).toBeGreaterThan(50);
    for (const m of modules) expect(out[m], m).toMatchObject({ same: true });
    for (const m of modules) expect((out[m] as { names: number }).names, m).toBeGreaterThan(0);
  });

  it('creates brokers and passes trace context on without the optional @opentelemetry/api', async () => {
    const script = `
      const { createBroker, defineContract, defineService } = await import('keel');
      const any = { '~standard': { version: 1, vendor: 'x', validate: (value) => ({ value }) } };
      const c = defineContract({ name: 'pkg', version: 1, actions: { who: { params: any, result: any } } });
      const s = defineService(c, { actions: { who: (_p, ctx) => ({ traceId: ctx.traceId, meta: { ...ctx.meta } }) } });
      const server = await createBroker({ transport: 'memory://pkg', services: [s] });
      const caller = await createBroker({ transport: 'memory://pkg', contracts: [c] });
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const out = await caller.client(c).who(null, { meta: { traceparent, 'x-id': '1' } });
      const otel = await import('@opentelemetry/api').then(() => true, () => false);
      await caller.stop();
      await server.stop();
      console.log(JSON.stringify({ ...out, otel }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: dir,
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      meta: { 'x-id': '1' },
      otel: false,
    });
  });

  it('refuses a path that is not one of its entries', async () => {
    const script = "await import('keel/dist/abort.js');";
    await expect(
      run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, timeout: 30_000 }),
    ).rejects.toMatchObject({ stderr: expect.stringContaining('ERR_PACKAGE_PATH_NOT_EXPORTED') });
  });
});
