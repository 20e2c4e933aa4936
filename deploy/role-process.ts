/**
 * One process of the shapes backend in a given role, started by the stack: its log goes to a file (and,
 * prefixed, to the terminal), it is ready when its `/health/ready` answers 200 (every role serves its
 * health over HTTP), and it is stopped with SIGTERM (its own drain) and a deadline after which it is killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';

export type AppRole = 'gateway' | 'shapes' | 'renderer';

export interface RoleProcessOptions {
  readonly role: AppRole;
  /** `gw1`, `svc2`... unique in the stack; also the instance id the process announces. */
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
  readonly logDir: string;
  /** The repository root (where apps/shapes/main.ts lives). */
  readonly root: string;
  /** Echo the log to this process's stdout, prefixed with the name. */
  readonly echo: boolean;
  /** The HTTP port (PORT), whose /health/ready must answer 200 before the process counts as ready. */
  readonly port: number;
}

export interface RoleProcess {
  readonly name: string;
  readonly role: AppRole;
  readonly pid: number;
  readonly port: number;
  readonly logFile: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
  /** Resolves once /health/ready answered 200. */
  ready(timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with the exit. */
  stop(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): Promise<void>;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpGet({ host: '127.0.0.1', port, path, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
  });
}

export function startRoleProcess(options: RoleProcessOptions): RoleProcess {
  const logFile = join(options.logDir, `${options.name}.log`);
  const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = spawn(
    process.execPath,
    ['--conditions=keel-source', join(options.root, 'apps/shapes/main.ts'), '--role', options.role],
    {
      cwd: options.root,
      env: { ...process.env, ...options.env, INSTANCE_ID: options.name, PORT: String(options.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const prefix = `${options.name.padEnd(6)} | `;
  const pipe = (stream: NodeJS.ReadableStream | null) => {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      log.write(chunk);
      if (!options.echo) return;
      const lines = (partial + chunk).split('\n');
      // A child that writes without newlines is echoed in pieces, not held in memory.
      partial = lines.pop() ?? '';
      if (partial.length > 65_536) {
        lines.push(partial);
        partial = '';
      }
      for (const line of lines) process.stdout.write(`${prefix}${line}\n`);
    });
  };
  pipe(child.stdout);
  pipe(child.stderr);
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      log.end();
      resolve(exitInfo);
    });
    child.once('error', (error) => {
      log.write(`cannot start: ${error.message}\n`);
      exitInfo = { code: -1, signal: null };
      log.end();
      resolve(exitInfo);
    });
  });

  return {
    name: options.name,
    role: options.role,
    pid: child.pid ?? -1,
    port: options.port,
    logFile,
    exited,
    get running() {
      return exitInfo === undefined;
    },
    async ready(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (exitInfo) {
          throw new Error(
            `${options.name} (${options.role}) exited during start (code ${exitInfo.code}, signal ${exitInfo.signal}); see ${logFile}`,
          );
        }
        if ((await httpStatus(options.port, '/health/ready')) === 200) return;
        if (Date.now() > deadline)
          throw new Error(
            `${options.name} (${options.role}) not ready within ${timeoutMs} ms; see ${logFile}`,
          );
        await delay(50);
      }
    },
    async stop(timeoutMs) {
      if (exitInfo) return exitInfo;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (late) child.kill('SIGKILL');
      return exited;
    },
    async kill() {
      if (exitInfo) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
