import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = join(import.meta.dirname, '..', 'scripts', 'check-imports.ts');
let tree: string | undefined;

/** Writes a fixture tree of src/ files and runs the import check on it. */
async function check(files: Record<string, string>): Promise<{ code: number; out: string }> {
  tree = mkdtempSync(join(tmpdir(), 'keel-imports-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(tree, 'src', path)), { recursive: true });
    writeFileSync(join(tree, 'src', path), text);
  }
  try {
    const { stdout } = await run(process.execPath, [script, tree]);
    return { code: 0, out: stdout };
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, out: e.stderr };
  }
}

afterEach(() => {
  if (tree) rmSync(tree, { recursive: true, force: true });
  tree = undefined;
});

describe('the import check', () => {
  it('passes imports that point down a floor', async () => {
    const result = await check({
      'errors.ts': 'export const x = 1;\n',
      'registry/registry.ts': "import { x } from '../errors.ts';\nexport const y = x;\n",
      'shapes/shape.ts': "import { y } from '../registry/registry.ts';\nexport const z = y;\n",
    });
    expect(result).toMatchObject({ code: 0 });
    expect(result.out).toMatch(/3 files, floors respected, no circles/);
  });

  it('fails an import that points up, naming the file and the rule', async () => {
    const result = await check({
      'errors.ts': "import { z } from './shapes/shape.ts';\nexport const x = z;\n",
      'shapes/shape.ts': 'export const z = 1;\n',
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(
      /src\/errors\.ts: imports src\/shapes\/shape\.ts, but errors\.ts may import only \[\]/,
    );
  });

  it('lets gateway/ import broker/, jobs/, events/ and the ground floor, and nothing import gateway/', async () => {
    const base = {
      'errors.ts': 'export const x = 1;\n',
      'events/bus.ts': "import { x } from '../errors.ts';\nexport const e = x;\n",
      'jobs/queue.ts': "import { x } from '../errors.ts';\nexport const j = x;\n",
      'broker/broker.ts': "import { x } from '../errors.ts';\nexport const b = x;\n",
      'concurrency/pool.ts': "import { x } from '../errors.ts';\nexport const p = x;\n",
      'gateway/plugin.ts':
        "import { e } from '../events/bus.ts';\nimport { j } from '../jobs/queue.ts';\nimport { b } from '../broker/broker.ts';\nimport fp from 'fastify-plugin';\nexport const g = [e, j, b, fp];\n",
    };
    expect(await check(base)).toMatchObject({ code: 0 });
    const result = await check({
      ...base,
      'gateway/extra.ts': "import { p } from '../concurrency/pool.ts';\nexport const q = p;\n",
      'index.ts': "export { g } from './gateway/plugin.ts';\n",
      'broker/up.ts': "import type { g } from '../gateway/plugin.ts';\nexport type U = typeof g;\n",
      'events/web.ts': "import Fastify from 'fastify';\nexport const w = Fastify;\n",
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(
      /src\/gateway\/extra\.ts: imports src\/concurrency\/pool\.ts, but gateway may import only/,
    );
    expect(result.out).toMatch(
      /src\/index\.ts: imports src\/gateway\/plugin\.ts, but nothing may import gateway\//,
    );
    expect(result.out).toMatch(
      /src\/broker\/up\.ts: imports src\/gateway\/plugin\.ts, but nothing may import gateway\//,
    );
    expect(result.out).toMatch(
      /src\/events\/web\.ts: imports the driver 'fastify', allowed only in src\/gateway/,
    );
  });

  it('fails a circle inside one module, showing the whole path', async () => {
    const result = await check({
      'events/a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
      'events/b.ts': "import { c } from './c.ts';\nexport const b = c;\n",
      'events/c.ts': "import { a } from './a.ts';\nexport const c = a;\n",
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(
      /import circle: src\/events\/a\.ts -> src\/events\/b\.ts -> src\/events\/c\.ts -> src\/events\/a\.ts/,
    );
  });

  it('fails a driver imported outside its folder, or a driver folder entered statically', async () => {
    const result = await check({
      'errors.ts': 'export const x = 1;\n',
      'transport/open.ts':
        "import { connect } from 'nats';\nimport { t } from './nats/nats.ts';\nexport { connect, t };\n",
      'transport/nats/nats.ts': "import { connect } from 'nats';\nexport const t = connect;\n",
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(
      /transport\/open\.ts: imports the driver 'nats', allowed only in src\/transport\/nats/,
    );
    expect(result.out).toMatch(
      /imports src\/transport\/nats\/nats\.ts statically; driver folders must be loaded with import\(\)/,
    );
    expect(result.out).not.toMatch(/transport\/nats\/nats\.ts: imports the driver/);
  });

  it('accepts a dynamic import of a driver folder and type-only imports', async () => {
    const result = await check({
      'transport/open.ts':
        "import type { T } from './nats/nats.ts';\nexport const open = async (): Promise<T> => (await import('./nats/nats.ts')).t;\n",
      'transport/nats/nats.ts':
        "import { connect } from 'nats';\nexport type T = unknown;\nexport const t = connect;\n",
    });
    expect(result).toMatchObject({ code: 0 });
  });

  it('fails a circle that runs through type-only imports, inline type imports and type re-exports', async () => {
    const result = await check({
      'container/a.ts': "import type { B } from './b.ts';\nexport interface A { b: B }\n",
      'container/b.ts':
        "import { type C, c } from './c.ts';\nexport interface B { c: C }\nexport const b = c;\n",
      'container/c.ts': "export type { A as C } from './a.ts';\nexport const c = 1;\n",
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(
      /import circle: src\/container\/a\.ts -> src\/container\/b\.ts -> src\/container\/c\.ts -> src\/container\/a\.ts/,
    );
  });

  it('does not count a dynamic import as part of a circle', async () => {
    const result = await check({
      'events/a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
      'events/b.ts': "export const b = 1;\nexport const load = () => import('./a.ts');\n",
    });
    expect(result).toMatchObject({ code: 0 });
  });

  it('finds no circle in the container module of this project, type-only imports included', async () => {
    const out = await run(process.execPath, [script]).then(
      ({ stdout }) => stdout,
      (error: { stderr: string }) => error.stderr,
    );
    expect(out).not.toMatch(/import circle: [^\n]*src\/container\//);
  });
});
