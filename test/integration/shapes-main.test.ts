import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../apps/shapes/config.ts';
import { ConfigError } from '../../apps/shapes/errors.ts';
import { mainScript, request, startRole, tempDir, until } from './shapes-harness.ts';

const run = (env: Record<string, string>, args: string[] = []) =>
  spawnSync(process.execPath, ['--conditions=keel-source', mainScript, ...args], {
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });

describe('configuration', () => {
  it('defaults: port 3000 on 127.0.0.1, memory transport and queue, SQLite at data/shapes.db, role all', () => {
    expect(readConfig({}, [])).toEqual({
      role: 'all',
      port: 3000,
      host: '127.0.0.1',
      transportUrl: 'memory://',
      queueUrl: 'memory://',
      databaseUrl: 'sqlite:data/shapes.db',
      drainDelayMs: 5000,
      agentPort: undefined,
      renderPaceMs: 0,
      instanceId: undefined,
    });
    expect(
      readConfig({ PORT: '8080', TRANSPORT_URL: 'nats://127.0.0.1:4222' }, ['--role=shapes']),
    ).toMatchObject({
      role: 'shapes',
      port: 8080,
      transportUrl: 'nats://127.0.0.1:4222',
    });
  });

  it.each([
    [{ PORT: 'abc' }, [], 'PORT'],
    [{ PORT: '70000' }, [], 'PORT'],
    [{ PORT: '-1' }, [], 'PORT'],
    [{ TRANSPORT_URL: 'redis://127.0.0.1:6379' }, [], 'TRANSPORT_URL'],
    [{ TRANSPORT_URL: 'not a url' }, [], 'TRANSPORT_URL'],
    [{ QUEUE_URL: 'nats://127.0.0.1:4222' }, [], 'QUEUE_URL'],
    [{ DATABASE_URL: 'mysql://root:hunter2@db/shapes' }, [], 'DATABASE_URL'],
    [{ DRAIN_DELAY_MS: 'soon' }, [], 'DRAIN_DELAY_MS'],
    [{ AGENT_PORT: '0' }, [], 'AGENT_PORT'],
    [{ AGENT_PORT: 'haproxy' }, [], 'AGENT_PORT'],
    [{ RENDER_PACE_MS: '-5' }, [], 'RENDER_PACE_MS'],
    [{ TRANSPORT_URL: 'nats://a:4222,redis://b:6379' }, [], 'TRANSPORT_URL'],
    [{}, ['--role', 'cook'], '--role'],
    [{}, ['--port', '1'], '--port'],
  ])('%j %j is refused naming %s', (env, args, variable) => {
    let error: unknown;
    try {
      readConfig(env, args);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as Error).message.startsWith(`${variable}: `)).toBe(true);
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('main.ts stops at a bad value with a message naming the variable and a non-zero exit', () => {
    const bad = run({ PORT: 'eighty' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/invalid configuration: PORT: /);
    const role = run({}, ['--role', 'everything']);
    expect(role.status).not.toBe(0);
    expect(role.stderr).toMatch(/--role: must be one of all, gateway, shapes, renderer/);
  });

  it('main.ts exits non-zero, saying why, when its port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = taken.address() as AddressInfo;
      const result = run({ PORT: String(port), DATABASE_URL: 'memory://', DRAIN_DELAY_MS: '0' });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/could not start: .*EADDRINUSE/);
    } finally {
      taken.close();
    }
  });

  it('main.ts exits non-zero naming DATABASE_URL when the store cannot be opened', () => {
    const result = run({ PORT: '0', DATABASE_URL: 'postgres://127.0.0.1:1/shapes' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/DATABASE_URL/);
  });
});

describe('main.ts', () => {
  it('npm start: prints the URL, serves, and on SIGTERM drains (readiness 503) then exits 0', async () => {
    const dir = tempDir('main');
    try {
      const app = await startRole('all', {
        DATABASE_URL: `sqlite:${join(dir.path, 'shapes.db')}`,
        DRAIN_DELAY_MS: '800',
      });
      expect(app.output()).toMatch(/Shapes backend \(all\) at http:\/\/127\.0\.0\.1:\d+/);
      expect((await request(app.url, '/api/shapes', { body: { kind: 'circle', radius: 1 } })).status).toBe(
        201,
      );
      expect((await request(app.url, '/health/ready')).status).toBe(200);
      const exited = once(app.child, 'exit');
      app.child.kill('SIGTERM');
      // During the drain delay the listener still answers, and readiness says 503.
      await until(
        async () => (await request(app.url, '/health/ready', { timeoutMs: 500 })).status === 503,
        700,
      );
      const [code, signal] = await Promise.race([
        exited,
        new Promise<never>((_, fail) => setTimeout(() => fail(new Error(app.output())), 15_000)),
      ]);
      expect({ code, signal }).toEqual({ code: 0, signal: null });
    } finally {
      dir.remove();
    }
  });

  it('the start script is role all through the keel-source condition', async () => {
    const { scripts } = (await import('../../package.json', { with: { type: 'json' } })).default as {
      scripts: Record<string, string>;
    };
    expect(scripts.start).toBe('node --conditions=keel-source apps/shapes/main.ts --role all');
    // And it needs no build: the child resolves keel/* to src/.
    const child = spawn(
      process.execPath,
      ['--conditions=keel-source', '-e', "import('keel/gateway').then(() => console.log('ok'))"],
      {
        cwd: join(import.meta.dirname, '../..'),
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    await once(child, 'exit');
    expect(out.trim()).toBe('ok');
  });
});
