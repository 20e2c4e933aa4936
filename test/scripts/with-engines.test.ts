/** The runner: engines up for the command, URLs in its environment, its exit code, engines gone after. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '..', '..', 'scripts', 'with-engines.ts');

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  pids: number[];
}

/** Runs with-engines with `command`; `onStarted` is called once the command runs (it prints "ready"). */
function runWithEngines(command: string[], onStarted?: (child: ReturnType<typeof spawn>) => void) {
  return new Promise<Outcome>((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      if (onStarted && stdout.includes('ready')) {
        onStarted(child);
        onStarted = undefined;
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const pids = [...stderr.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
      resolve({ code, stdout, stderr, pids });
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const printEnv = [
  process.execPath,
  '-e',
  'console.log(process.env.KEEL_REDIS_URL, process.env.KEEL_NATS_URL); process.exit(7)',
];

describe('with-engines', () => {
  it("passes both URLs to the command, exits with the command's code and stops both engines", async () => {
    const { code, stdout, pids } = await runWithEngines(printEnv);
    expect(code).toBe(7);
    expect(stdout).toMatch(/^redis:\/\/127\.0\.0\.1:\d+ nats:\/\/127\.0\.0\.1:\d+\n$/);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(alive(pid), `engine ${pid} still running`).toBe(false);
  });

  it('on SIGTERM stops the command and the engines, exiting 128 + 15', async () => {
    const waitForever = [process.execPath, '-e', 'console.log("ready"); setInterval(() => {}, 1000)'];
    const { code, pids } = await runWithEngines(waitForever, (child) => child.kill('SIGTERM'));
    expect(code).toBe(143);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(alive(pid), `engine ${pid} still running`).toBe(false);
  });

  it('says how to use it when given no command', async () => {
    const { code, stderr } = await runWithEngines([]);
    expect(code).toBe(2);
    expect(stderr).toContain('usage: node scripts/with-engines.ts <command>');
  });
});
