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

it('every error code used in src/ is listed in docs/errors.md, and every listed code is used', () => {
  const used = new Set<string>();
  for (const file of walk(join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/['"`](KEEL_[A-Z0-9_]+)['"`]/g))
      used.add(m[1] as string);
  }
  // docs/errors.md, plus any module's own list (docs/errors-<module>.md) not yet folded into it.
  const catalogues = readdirSync(join(root, 'docs')).filter((f) => /^errors(-[a-z-]+)?\.md$/.test(f));
  const documented = new Set(
    catalogues.flatMap((f) =>
      [...readFileSync(join(root, 'docs', f), 'utf8').matchAll(/^\| `(KEEL_[A-Z0-9_]+)`/gm)].map(
        (m) => m[1] as string,
      ),
    ),
  );
  expect([...used].filter((c) => !documented.has(c)).sort()).toEqual([]);
  expect([...documented].filter((c) => !used.has(c)).sort()).toEqual([]);
  expect(used.size).toBeGreaterThan(0);
});
