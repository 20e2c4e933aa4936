import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..');
const script = join(repo, 'scripts', 'check-docs.ts');
let tree: string | undefined;

/**
 * Writes a fixture tree (README.md, docs/*.md) inside the repository, so its blocks resolve the repository's
 * node_modules and tsconfig, and runs the docs check on it.
 */
async function check(files: Record<string, string>): Promise<{ code: number; out: string }> {
  tree = mkdtempSync(join(repo, '.docs-fixture-'));
  mkdirSync(join(tree, 'docs'));
  writeFileSync(join(tree, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', include: [] }));
  for (const [path, text] of Object.entries(files)) writeFileSync(join(tree, path), text);
  try {
    const { stdout } = await run(process.execPath, [script, tree], { timeout: 60_000 });
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

const fence = (code: string, lang = 'ts') => `\`\`\`${lang}\n${code}\n\`\`\`\n`;

describe('the docs check', () => {
  it('passes blocks that typecheck and run, and cleans up after itself', async () => {
    const result = await check({
      'README.md': `# X\n\n${fence("import { setTimeout } from 'node:timers/promises';\nawait setTimeout(1);")}`,
      'docs/a.md': `text\n\n${fence('const n: number = 1;\nconsole.log(n);')}\n${fence('echo hi', 'sh')}`,
    });
    expect(result).toEqual({
      code: 0,
      out: 'docs: 2 TypeScript blocks typecheck, 2 self-contained ones ran\n',
    });
    expect(existsSync(join(tree ?? '', '.docs-check'))).toBe(false);
  });

  it('reports a type error at its line in the markdown file', async () => {
    const result = await check({
      'README.md': `# X\n\nintro\n\n${fence('const a = 1;\nconst b: string = a;')}`,
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/README\.md:7: error TS2322/);
  });

  it('takes declarations from a prelude comment, and does not run a block that has one', async () => {
    const result = await check({
      'docs/a.md': `<!-- prelude\ndeclare function send(to: string): Promise<void>;\n-->\n${fence("await send('ada');")}`,
    });
    expect(result).toEqual({
      code: 0,
      out: 'docs: 1 TypeScript blocks typecheck, 0 self-contained ones ran\n',
    });
  });

  it('reports a self-contained block that throws, unless it is marked no-run', async () => {
    const throwing = fence("throw new Error('boom');");
    const failed = await check({ 'README.md': `# X\n\n${throwing}` });
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(/README\.md:4: the block exited with 1/);
    expect(failed.out).toContain('boom');
    const skipped = await check({ 'README.md': `# X\n\n<!-- no-run -->\n${throwing}` });
    expect(skipped).toEqual({
      code: 0,
      out: 'docs: 1 TypeScript blocks typecheck, 0 self-contained ones ran\n',
    });
  });

  it('lets a marker apply only to the block right after it', async () => {
    const result = await check({
      'README.md': `<!-- prelude\ndeclare const x: number;\n-->\n\nprose between\n\n${fence('console.log(x);')}`,
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/README\.md:8: error TS2304: Cannot find name 'x'/);
  });
});
