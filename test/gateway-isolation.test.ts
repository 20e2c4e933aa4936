/** `import 'keel'` never loads Fastify (or anything else of the gateway): only `keel/gateway` does. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const src = join(import.meta.dirname, '..', 'src');

/** The gateway's packages among every module a fresh process resolves while importing `entries`. */
async function loadedBy(entries: string[]): Promise<string[]> {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
    for (const entry of ${JSON.stringify(entries)}) await import(entry);
    console.log(JSON.stringify(seen.filter((u) => /node_modules\\/(fastify|fastify-plugin|@fastify|prom-client)\\//.test(u))));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
  return JSON.parse(stdout) as string[];
}

it('importing keel and every other module loads no Fastify, Fastify plugin or prom-client', async () => {
  // Every entry of the package but keel/gateway, as package.json lists them.
  const manifest = JSON.parse(readFileSync(join(src, '..', 'package.json'), 'utf8'));
  const entries = Object.entries(manifest.exports as Record<string, { 'keel-source'?: string }>)
    .filter(([path, entry]) => path !== './gateway' && entry['keel-source'] !== undefined)
    .map(([, entry]) => pathToFileURL(join(src, '..', entry['keel-source'] as string)).href);
  expect(entries.length).toBeGreaterThan(9);
  expect(await loadedBy(entries)).toEqual([]);
});

it('importing keel/gateway does load Fastify (so the check above can see it)', async () => {
  const loaded = await loadedBy([pathToFileURL(join(src, 'gateway', 'index.ts')).href]);
  expect(loaded.some((url) => url.includes('/node_modules/fastify-plugin/'))).toBe(true);
});
