import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as wait } from 'node:timers/promises';
import { expect, it } from 'vitest';

const example = join(import.meta.dirname, '../../examples/container.ts');

it('examples/container.ts serves requests and shuts down cleanly on SIGINT', async () => {
  const child = spawn(process.execPath, [example], { stdio: 'pipe', env: { ...process.env, PORT: '0' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    // Wait until its own three requests are answered.
    for (let i = 0; i < 1500 && !stdout.includes('GET /users/3'); i++) {
      if (child.exitCode !== null) break;
      await wait(10);
    }
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
    expect(url, `stdout: ${stdout}\nstderr: ${stderr}`).toBeDefined();
    // A request from outside gets a scope of its own, too.
    const response = await fetch(`${url}/users/7`, { headers: { connection: 'close' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ request: 4, sql: 'select * from users where id = 7' });

    child.kill('SIGINT');
    const [code, signal] = await exited;
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe('pool: opened 4 connections');
    expect(lines).toContain('request 4: scope disposed');
    // Newest first: the server, then the pool it depends on.
    expect(lines.slice(-2)).toEqual(['server: closed', 'pool: closed 4 connections']);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}, 30_000);
