/**
 * `npm run stack` as a person runs it: the command starts a (small) stack, `status` prints its state,
 * `restart workers` replaces the workers through the control socket, and SIGTERM stops everything,
 * leaving none of the processes stack.json named.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const runDir = mkdtempSync(join(tmpdir(), 'keel-stack-cli-'));
const run = promisify(execFile);
let stack: ChildProcess | undefined;

afterAll(async () => {
  // After a failure, the stack is asked to stop as a person would (it stops its children); killed only if it hangs.
  if (stack && stack.exitCode === null && stack.signalCode === null) {
    const exited = new Promise((r) => stack?.once('exit', r));
    stack.kill('SIGTERM');
    const timer = setTimeout(() => stack?.kill('SIGKILL'), 90_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(runDir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it('starts, reports its state, restarts the workers on request, and stops everything on SIGTERM', async () => {
  const args = ['deploy/stack.ts', '--port', '0', '--run-dir', runDir, '--quiet'];
  const small = ['--gateways', '1', '--services', '1', '--workers', '1', '--nats-nodes', '1'];
  stack = spawn(process.execPath, [...args, ...small], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  stack.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  stack.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const deadline = Date.now() + 150_000;
  while (!/ready at http:\/\/127\.0\.0\.1:\d+/.test(out)) {
    if (stack.exitCode !== null || Date.now() > deadline) throw new Error(`the stack did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const url = /ready at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] as string;
  expect((await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);

  const status = await run(process.execPath, ['deploy/stack.ts', 'status', '--run-dir', runDir], {
    cwd: root,
    timeout: 10_000,
  });
  const state = JSON.parse(status.stdout) as { url: string; processes: { role: string; pid: number }[] };
  expect(state.url).toBe(url);
  expect(state.processes.map((p) => p.role).sort()).toEqual(['gateway', 'renderer', 'shapes']);
  const before = state.processes.find((p) => p.role === 'renderer')?.pid as number;

  const restart = await run(
    process.execPath,
    ['deploy/stack.ts', 'restart', 'workers', '--run-dir', runDir],
    {
      cwd: root,
      timeout: 120_000,
    },
  );
  expect(restart.stdout).toMatch(/wrk1: replacement ready/);
  expect(restart.stdout.trim().split('\n').at(-1)).toBe('ok');
  const after = JSON.parse(readFileSync(join(runDir, 'stack.json'), 'utf8')) as typeof state;
  const replaced = after.processes.find((p) => p.role === 'renderer')?.pid as number;
  expect(replaced).not.toBe(before);
  expect(alive(before)).toBe(false);

  const pids = after.processes.map((p) => p.pid);
  const exited = new Promise<number | null>((r) => stack?.once('exit', (code) => r(code)));
  stack.kill('SIGTERM');
  expect(await exited).toBe(0);
  for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
}, 300_000);
