/**
 * Proves the docs' code: every ```ts block of README.md and docs/*.md is typechecked against the sources,
 * and every self-contained block is also run. A block may be preceded by an HTML comment that the rendered
 * page hides: `<!-- prelude ... -->` holds declarations the fragment assumes (a block with a prelude is only
 * typechecked), `<!-- no-run -->` typechecks a self-contained block without running it.
 * Run with `npm run docs`; exits non-zero and names each failing block by file and line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

// The project root, or another tree given as the first argument (the tests use small fixture trees);
// further arguments limit the check to those markdown files (`node scripts/check-docs.ts . README.md`).
const root = resolve(process.argv[2] ?? resolve(import.meta.dirname, '..'));
const only = process.argv.slice(3);
const tscBin = resolve(import.meta.dirname, '..', 'node_modules', '.bin', 'tsc');
const out = join(root, '.docs-check');

interface Block {
  readonly source: string; // README.md, docs/x.md
  readonly line: number; // the line of the first code line in the markdown file
  readonly prelude: string;
  readonly run: boolean;
  readonly code: string;
  readonly file: string; // where it is written for checking
}

const docs = readdirSync(join(root, 'docs'), { withFileTypes: true })
  .filter((e) => e.isFile() && e.name.endsWith('.md'))
  .map((e) => `docs/${e.name}`)
  .sort();
const sources = ['README.md', ...docs].filter(
  (s) => (only.length === 0 || only.includes(s)) && existsSync(join(root, s)),
);

const blocks: Block[] = [];
for (const source of sources) {
  const lines = readFileSync(join(root, source), 'utf8').split('\n');
  let prelude: string | undefined;
  let noRun = false;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? '';
    if (text.trim().startsWith('<!-- prelude')) {
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !(lines[j] ?? '').includes('-->')) body.push(lines[j++] ?? '');
      prelude = body.join('\n');
      i = j;
      continue;
    }
    if (text.trim() === '<!-- no-run -->') {
      noRun = true;
      continue;
    }
    if (/^```(ts|typescript)\b/.test(text)) {
      const start = i + 1;
      const code: string[] = [];
      i++;
      while (i < lines.length && !(lines[i] ?? '').startsWith('```')) code.push(lines[i++] ?? '');
      const slug = source.replace(/[/.]/g, '-');
      blocks.push({
        source,
        line: start + 1,
        prelude: prelude ?? '',
        run: prelude === undefined && !noRun,
        code: code.join('\n'),
        file: join(out, `${slug}-L${start + 1}.ts`),
      });
      prelude = undefined;
      noRun = false;
    } else if (text.trim() !== '') {
      // A marker applies only to the block right after it (blank lines allowed in between).
      prelude = undefined;
      noRun = false;
    }
  }
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const preludeLines = new Map<string, number>();
for (const block of blocks) {
  // Each block is its own module; the prelude's lines come first, then the block exactly as shown.
  const head = block.prelude === '' ? '' : `${block.prelude}\n`;
  preludeLines.set(block.file, head === '' ? 0 : head.split('\n').length - 1);
  writeFileSync(block.file, `${head}${block.code}\nexport {};\n`);
}
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify({
    extends: '../tsconfig.json',
    compilerOptions: { customConditions: ['keel-source'], noUnusedLocals: false, types: ['node'] },
    include: ['./*.ts'],
  }),
);

const problems: string[] = [];
const byFile = new Map(blocks.map((b) => [b.file, b]));
// tsc refuses a project with no files; with no blocks there is nothing to check.
const tsc =
  blocks.length === 0
    ? { stdout: '', stderr: '', status: 0, error: undefined }
    : spawnSync(tscBin, ['-p', join(out, 'tsconfig.json'), '--pretty', 'false'], {
        encoding: 'utf8',
        cwd: root,
      });
for (const row of `${tsc.stdout}${tsc.stderr}`.split('\n')) {
  const m = /^(.*?\.ts)\((\d+),(\d+)\): (error .*)$/.exec(row.trim());
  if (m === null) {
    if (row.trim() !== '' && tsc.status !== 0 && !row.startsWith(' ')) problems.push(row.trim());
    else if (row.startsWith(' ') && problems.length > 0) problems[problems.length - 1] += `\n  ${row.trim()}`;
    continue;
  }
  const file = resolve(root, m[1] ?? '');
  const block = byFile.get(file);
  if (block === undefined) {
    problems.push(`${relative(root, file)}:${m[2]}: ${m[4]}`);
    continue;
  }
  const at = Number(m[2]) - (preludeLines.get(file) ?? 0);
  const where =
    at >= 1 ? `${block.source}:${block.line + at - 1}` : `${block.source}:${block.line} (prelude)`;
  problems.push(`${where}: ${m[4]}`);
}
if (tsc.error !== undefined) problems.push(`tsc could not run: ${tsc.error.message}`);

let ran = 0;
if (problems.length === 0) {
  for (const block of blocks.filter((b) => b.run)) {
    const run = spawnSync(process.execPath, ['--conditions=keel-source', block.file], {
      encoding: 'utf8',
      cwd: root,
      timeout: 30_000,
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    ran++;
    if (run.status !== 0) {
      const why = run.error?.message ?? run.stderr.trim().split('\n').slice(0, 8).join('\n  ');
      problems.push(
        `${block.source}:${block.line}: the block exited with ${run.status ?? run.signal}\n  ${why}`,
      );
    }
  }
}

if (problems.length > 0) {
  console.error(`docs: ${problems.length} problem(s) in ${blocks.length} TypeScript blocks:`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
console.log(`docs: ${blocks.length} TypeScript blocks typecheck, ${ran} self-contained ones ran`);
