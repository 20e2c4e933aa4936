/**
 * Runs the benchmarks: `npm run bench` runs every bench/*.bench.ts, `npm run bench -- events` only those
 * whose file name contains "events". Each bench file exports `default async function (): Promise<void>`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { machine } from './harness.ts';

const filters = process.argv.slice(2);
const files = readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

console.log(`# Keel benchmarks\n\n${machine()}; ${new Date().toISOString().slice(0, 10)}\n`);
for (const file of files) {
  const mod = (await import(join(import.meta.dirname, file))) as { default: () => Promise<void> };
  console.log(`## ${file}\n`);
  await mod.default();
}
