/**
 * Proves the house rules on imports (docs/architecture.md, "Floors"): every import in src/ points down a
 * floor, drivers are imported only inside their own folder, and no import circle exists between modules.
 * Run with `npm run imports`; exits non-zero and names each offending import.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The project root, or another tree given as the first argument (the tests use small fixture trees).
const root = resolve(process.argv[2] ?? resolve(import.meta.dirname, '..'));
const src = join(root, 'src');

/** The floor each top-level module of src/ may import from (besides itself). */
const allowed: Record<string, readonly string[]> = {
  'errors.ts': [],
  'abort.ts': [],
  'diagnostics.ts': [],
  'load-driver.ts': ['errors.ts'],
  'standard-schema.ts': ['errors.ts', 'abort.ts', 'diagnostics.ts', 'load-driver.ts'],
  singleton: ['errors.ts', 'abort.ts', 'diagnostics.ts', 'load-driver.ts'],
  registry: ['errors.ts', 'abort.ts', 'diagnostics.ts', 'load-driver.ts', 'standard-schema.ts'],
  concurrency: ['errors.ts', 'abort.ts', 'diagnostics.ts', 'load-driver.ts'],
  events: ['errors.ts', 'abort.ts', 'diagnostics.ts', 'load-driver.ts', 'standard-schema.ts', 'concurrency'],
  shapes: ['errors.ts', 'abort.ts', 'diagnostics.ts', 'load-driver.ts', 'registry'],
  container: [
    'errors.ts',
    'abort.ts',
    'diagnostics.ts',
    'load-driver.ts',
    'standard-schema.ts',
    'singleton',
    'concurrency',
  ],
  transport: [
    'errors.ts',
    'abort.ts',
    'diagnostics.ts',
    'load-driver.ts',
    'standard-schema.ts',
    'singleton',
    'registry',
    'concurrency',
    'events',
  ],
  jobs: [
    'errors.ts',
    'abort.ts',
    'diagnostics.ts',
    'load-driver.ts',
    'standard-schema.ts',
    'singleton',
    'registry',
    'concurrency',
    'events',
    'transport',
  ],
  broker: [
    'errors.ts',
    'abort.ts',
    'diagnostics.ts',
    'load-driver.ts',
    'standard-schema.ts',
    'singleton',
    'container',
    'registry',
    'concurrency',
    'events',
    'transport',
    'jobs',
  ],
  gateway: [
    'errors.ts',
    'abort.ts',
    'diagnostics.ts',
    'load-driver.ts',
    'standard-schema.ts',
    'events',
    'jobs',
    'broker',
  ],
};

/** Driver packages, and the only folders that may import them (and only those folders' files). */
const drivers: Record<string, readonly string[]> = {
  nats: ['transport/nats'],
  '@nats-io/transport-node': ['transport/nats'],
  '@nats-io/nats-core': ['transport/nats'],
  ioredis: ['transport/redis', 'jobs/bullmq'],
  bullmq: ['jobs/bullmq'],
  // The HTTP side lives only in gateway/, which only the `keel/gateway` subpath loads.
  fastify: ['gateway'],
  'fastify-plugin': ['gateway'],
  '@fastify/swagger': ['gateway'],
  '@fastify/swagger-ui': ['gateway'],
  '@fastify/under-pressure': ['gateway'],
  'prom-client': ['gateway'],
};

/** Modules that nothing else may import, not even src/index.ts: each is reached only by its own subpath. */
const topFloors = new Set(['gateway']);
const driverFolders = new Set(Object.values(drivers).flat());

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const isTest = (file: string) => /\.test(-d)?\.ts$/.test(file);
const moduleOf = (file: string) => relative(src, file).split('/')[0] ?? '';
const folderOf = (file: string) => dirname(relative(src, file));

// Static imports and re-exports (`import x from`, `export { } from`, `import 'x'`), and dynamic `import()`.
const staticRe =
  /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;
const dynamicRe = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

const problems: string[] = [];
const graph = new Map<string, Set<string>>();
const files = walk(src);

for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const from = moduleOf(file);
  const rel = relative(root, file);
  const edges = new Set<string>();
  graph.set(file, edges);
  const imports: { spec: string; typeOnly: boolean; dynamic: boolean }[] = [];
  for (const m of text.matchAll(staticRe)) {
    imports.push({ spec: (m[3] ?? m[4]) as string, typeOnly: m[2] !== undefined, dynamic: false });
  }
  for (const m of text.matchAll(dynamicRe))
    imports.push({ spec: m[1] as string, typeOnly: false, dynamic: true });

  for (const { spec, typeOnly, dynamic } of imports) {
    if (!spec.startsWith('.')) {
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec);
      const homes = drivers[pkg];
      if (
        homes &&
        !typeOnly &&
        !homes.some((h) => folderOf(file) === h || folderOf(file).startsWith(`${h}/`))
      ) {
        problems.push(`${rel}: imports the driver '${spec}', allowed only in src/${homes.join(', src/')}`);
      }
      continue;
    }
    const target = resolve(dirname(file), spec);
    const to = moduleOf(target);
    // Type-only imports count for circles too: a circle of types still ties the modules into one.
    if (!dynamic) edges.add(target);
    if (topFloors.has(to) && from !== to && !isTest(file)) {
      problems.push(
        `${rel}: imports ${relative(root, target)}, but nothing may import ${to}/ (it is loaded only by its own subpath)`,
      );
      continue;
    }
    if (isTest(file) || from === 'index.ts') continue;
    if (to !== from && !(allowed[from] ?? []).includes(to)) {
      problems.push(
        `${rel}: imports ${relative(root, target)}, but ${from} may import only [${(allowed[from] ?? []).join(', ')}]`,
      );
    }
    // A driver folder is entered only through a dynamic import, so embedded users never load the driver.
    const targetFolder = folderOf(target);
    const entersDriver = [...driverFolders].some(
      (d) => targetFolder === d || targetFolder.startsWith(`${d}/`),
    );
    const inside = [...driverFolders].some((d) => folderOf(file) === d || folderOf(file).startsWith(`${d}/`));
    if (entersDriver && !inside && !dynamic && !typeOnly) {
      problems.push(
        `${rel}: imports ${relative(root, target)} statically; driver folders must be loaded with import()`,
      );
    }
  }
}

// Circles: depth-first search over static imports (type-only ones included) between non-test files.
const state = new Map<string, 'open' | 'done'>();
const stack: string[] = [];
function visit(file: string): void {
  state.set(file, 'open');
  stack.push(file);
  for (const next of graph.get(file) ?? []) {
    if (isTest(next)) continue;
    if (state.get(next) === 'open') {
      const cycle = [...stack.slice(stack.indexOf(next)), next].map((f) => relative(root, f));
      problems.push(`import circle: ${cycle.join(' -> ')}`);
    } else if (!state.has(next) && graph.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of files) if (!isTest(file) && !state.has(file)) visit(file);

if (problems.length > 0) {
  console.error(`${problems.length} import problem(s):\n${problems.map((p) => `  ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`imports: ${files.length} files, floors respected, no circles`);
