import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const walk = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? walk(join(dir, e.name))
      : /(?<!\.test(-d)?)\.ts$/.test(e.name)
        ? [join(dir, e.name)]
        : [],
  );

const catalogue = (): string => readFileSync(join(root, 'docs', 'errors.md'), 'utf8');

it('every error code used in src/ and apps/ is listed in docs/errors.md, and every listed code is used', () => {
  const used = new Set<string>();
  for (const file of [...walk(join(root, 'src')), ...walk(join(root, 'apps'))]) {
    for (const m of readFileSync(file, 'utf8').matchAll(/['"`](KEEL_[A-Z0-9_]+)['"`]/g))
      used.add(m[1] as string);
  }
  const documented = new Set(
    [...catalogue().matchAll(/^\| `(KEEL_[A-Z0-9_]+)`/gm)].map((m) => m[1] as string),
  );
  expect([...used].filter((c) => !documented.has(c)).sort()).toEqual([]);
  expect([...documented].filter((c) => !used.has(c)).sort()).toEqual([]);
  expect(used.size).toBeGreaterThan(0);
});
