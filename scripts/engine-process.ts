/** Engine processes: starting one, probing it until it answers, and stopping it by PID (scripts/engines.ts). */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One attempt at a readiness probe: resolves true when the engine answered as expected. */
export type Probe = () => Promise<boolean>;

export function redisProbe(port: number): Probe {
  return () =>
    new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      let data = '';
      const done = (ok: boolean) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), 500);
      socket.setEncoding('utf8');
      socket.once('error', () => done(false));
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.on('data', (chunk: string) => {
        data += chunk;
        if (data.includes('\r\n')) done(data.startsWith('+PONG'));
      });
      socket.once('close', () => done(false));
    });
}

export function natsProbe(monitorPort: number): Probe {
  return () =>
    new Promise((resolve) => {
      const req = httpGet(
        { host: '127.0.0.1', port: monitorPort, path: '/healthz', agent: false, timeout: 500 },
        (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode === 200));
          res.once('error', () => resolve(false));
        },
      );
      req.once('timeout', () => req.destroy());
      req.once('error', () => resolve(false));
    });
}

export type EngineKind = 'redis' | 'nats' | 'postgres' | 'haproxy';

/** Asks `pg_isready` whether PostgreSQL accepts connections on 127.0.0.1:port. */
export function postgresProbe(pgIsReady: string, port: number): Probe {
  return () =>
    new Promise((resolve) => {
      execFile(
        pgIsReady,
        ['-q', '-h', '127.0.0.1', '-p', String(port), '-t', '1'],
        { timeout: 2000 },
        (error) => resolve(error === null),
      );
    });
}

/** Asks an HTTP endpoint for a 200 (HAProxy's `monitor-uri`). */
export function httpProbe(port: number, path: string): Probe {
  return () =>
    new Promise((resolve) => {
      const req = httpGet({ host: '127.0.0.1', port, path, agent: false, timeout: 500 }, (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode === 200));
        res.once('error', () => resolve(false));
      });
      req.once('timeout', () => req.destroy());
      req.once('error', () => resolve(false));
    });
}

export interface Spec {
  readonly kind: EngineKind;
  readonly binary: string;
  readonly args: readonly string[];
  readonly stopSignal: NodeJS.Signals;
  readonly probe: Probe;
  readonly logFile: string;
  readonly readyTimeoutMs: number;
  /** Run the server as this user and group (PostgreSQL refuses to run as root). */
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  /** Working directory of the server process. @default this process's */
  readonly cwd?: string | undefined;
}

/** Processes still running, killed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackForExit(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

function tail(file: string, output: string): string {
  let log = '';
  try {
    log = readFileSync(file, 'utf8');
  } catch {
    // no log written
  }
  const text = `${output}\n${log}`.trim().split('\n').slice(-8).join('\n');
  return text === '' ? '(no output)' : text;
}

export async function launch(spec: Spec): Promise<ChildProcess> {
  const child = spawn(spec.binary, spec.args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(spec.uid === undefined ? {} : { uid: spec.uid, gid: spec.gid }),
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  child.once('exit', (code, signal) => {
    exited = { code, signal };
  });
  child.once('error', (error) => {
    spawnError = error;
  });
  trackForExit(child);

  const deadline = Date.now() + spec.readyTimeoutMs;
  for (;;) {
    if (spawnError) throw new Error(`${spec.kind}: cannot start ${spec.binary}: ${spawnError.message}`);
    if (exited) {
      throw new Error(
        `${spec.kind} exited during start (code ${exited.code}, signal ${exited.signal}): ${tail(spec.logFile, output)}`,
      );
    }
    if (await spec.probe()) return child;
    if (Date.now() > deadline) {
      await terminate(child, 'SIGKILL');
      throw new Error(
        `${spec.kind} not ready within ${spec.readyTimeoutMs} ms: ${tail(spec.logFile, output)}`,
      );
    }
    await delay(15);
  }
}

/** Sends `signal`, waits for the exit (Node reaps the child), escalating to SIGKILL after 5 s. */
export async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const escalated = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), 5000);
    }),
  ]);
  clearTimeout(timer);
  if (escalated) {
    child.kill('SIGKILL');
    await exited;
  }
}
