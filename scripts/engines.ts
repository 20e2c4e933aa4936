/**
 * Starts real redis-server and nats-server processes on free loopback ports for tests and benchmarks,
 * and stops them by PID. Used by scripts/with-engines.ts and directly by fault tests that restart engines.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface EngineOptions {
  /** Port to listen on. @default a free port chosen by the operating system */
  readonly port?: number;
  /**
   * Working directory (data, logs). A directory given here is kept by `stop()`.
   * @default a new directory under the system's temporary directory, removed by `stop()`
   */
  readonly dir?: string;
  /** Extra command-line arguments, appended after Keel's own. @default [] */
  readonly args?: readonly string[];
  /** How long to wait for the engine to answer before giving up. @default 10000 */
  readonly readyTimeoutMs?: number;
}

export interface RedisOptions extends EngineOptions {
  /** Keep an append-only file in `dir`, so data survives `restart()`. @default false */
  readonly appendonly?: boolean;
  /** Redis `maxmemory-policy` (`noeviction`, `allkeys-lru`, ...). @default the server's default */
  readonly maxmemoryPolicy?: string;
}

export interface NatsOptions extends EngineOptions {
  /** Enable JetStream, storing under `dir/js`. @default false */
  readonly jetstream?: boolean;
  /** Port of the HTTP monitor that serves `/healthz`. @default a free port */
  readonly monitorPort?: number;
}

/** A running engine. `stop()` is idempotent; `restart()` keeps the port and the directory. */
export interface Engine extends AsyncDisposable {
  readonly kind: 'redis' | 'nats';
  /** `redis://127.0.0.1:PORT` or `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** PID of the current server process (changes on `restart()`). */
  readonly pid: number;
  /** Whether the server process is running. */
  readonly running: boolean;
  /** Signals the server (redis SIGTERM, nats SIGINT), waits for it to exit, removes a throwaway dir. */
  stop(): Promise<void>;
  /** Stops the server without removing its directory, then starts it again on the same port and dir. */
  restart(): Promise<void>;
  /** Stops the server (SIGKILL, no clean shutdown) and leaves the directory; `start()` brings it back. */
  kill(): Promise<void>;
  /** Starts a stopped or killed server again on the same port and dir. */
  start(): Promise<void>;
}

/** Raised when an engine binary cannot be found; `packages` names the Debian packages to install. */
export class EngineNotFoundError extends Error {
  readonly binary: string;
  readonly packages: readonly string[];
  constructor(binary: string, packages: readonly string[]) {
    super(`${binary} not found on PATH or in /usr/sbin, /usr/bin; install: ${packages.join(' ')}`);
    this.name = 'EngineNotFoundError';
    this.binary = binary;
    this.packages = packages;
  }
}

/** The Debian packages that provide each engine. */
export const enginePackages = {
  'redis-server': ['redis-server', 'redis-tools'],
  'nats-server': ['nats-server'],
} as const;

const extraDirs = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable found on PATH or in the usual system folders, or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

function requireBinary(name: keyof typeof enginePackages): string {
  const path = findBinary(name);
  if (path === undefined) throw new EngineNotFoundError(name, enginePackages[name]);
  return path;
}

/** A port on 127.0.0.1 that was free a moment ago (the OS chooses it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One attempt at a readiness probe: resolves true when the engine answered as expected. */
type Probe = () => Promise<boolean>;

function redisProbe(port: number): Probe {
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

function natsProbe(monitorPort: number): Probe {
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

interface Spec {
  readonly kind: 'redis' | 'nats';
  readonly binary: string;
  readonly args: readonly string[];
  readonly stopSignal: NodeJS.Signals;
  readonly probe: Probe;
  readonly logFile: string;
  readonly readyTimeoutMs: number;
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

async function launch(spec: Spec): Promise<ChildProcess> {
  const child = spawn(spec.binary, spec.args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
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

/**
 * Runs `start` again (up to three times) when it fails and the ports were chosen here: another process
 * may take a free port between the moment it is chosen and the moment the server binds it.
 */
async function onFreePorts(chosenHere: boolean, start: () => Promise<Engine>): Promise<Engine> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (!chosenHere || attempt >= 3) throw error;
    }
  }
}

function checkPort(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0 && value < 65536)) {
    throw new TypeError(`${name} must be an integer in 1..65535; received ${String(value)}`);
  }
}

async function manage(
  kind: 'redis' | 'nats',
  port: number,
  options: EngineOptions,
  makeSpec: (dir: string) => Spec,
): Promise<Engine> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `keel-${kind}-`));
  const spec = makeSpec(dir);
  let child: ChildProcess | undefined;
  try {
    child = await launch(spec);
  } catch (error) {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let removed = false;
  const isRunning = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const engine: Engine = {
    kind,
    url: `${kind}://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid ?? -1;
    },
    get running() {
      return isRunning();
    },
    async stop() {
      if (child) await terminate(child, spec.stopSignal);
      if (ownDir && !removed) {
        removed = true;
        rmSync(dir, { recursive: true, force: true });
      }
    },
    async kill() {
      if (child) await terminate(child, 'SIGKILL');
    },
    async start() {
      if (removed) throw new Error(`${kind} on port ${port} was stopped and its directory removed`);
      if (isRunning()) return;
      child = await launch(spec);
    },
    async restart() {
      if (child) await terminate(child, spec.stopSignal);
      await engine.start();
    },
    [Symbol.asyncDispose]() {
      return engine.stop();
    },
  };
  return engine;
}

/** Starts a redis-server on 127.0.0.1 (command line as measured in INFRA.md) and waits for PONG. */
export async function startRedis(options: RedisOptions = {}): Promise<Engine> {
  checkPort('port', options.port);
  const binary = requireBinary('redis-server');
  return onFreePorts(options.port === undefined, async () => {
    const port = options.port ?? (await freePort());
    return manage('redis', port, options, (dir) => {
      const logFile = join(dir, 'redis.log');
      const args = [
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        options.appendonly ? 'yes' : 'no',
        '--dir',
        dir,
        '--logfile',
        logFile,
        ...(options.maxmemoryPolicy === undefined ? [] : ['--maxmemory-policy', options.maxmemoryPolicy]),
        ...(options.args ?? []),
      ];
      return {
        kind: 'redis',
        binary,
        args,
        stopSignal: 'SIGTERM',
        probe: redisProbe(port),
        logFile,
        readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
      };
    });
  });
}

/** Starts a nats-server on 127.0.0.1 (command line as measured in INFRA.md) and waits for `/healthz`. */
export async function startNats(options: NatsOptions = {}): Promise<Engine> {
  checkPort('port', options.port);
  checkPort('monitorPort', options.monitorPort);
  const binary = requireBinary('nats-server');
  return onFreePorts(options.port === undefined || options.monitorPort === undefined, async () => {
    const port = options.port ?? (await freePort());
    let monitorPort = options.monitorPort ?? (await freePort());
    while (monitorPort === port) monitorPort = await freePort();
    return manage('nats', port, options, (dir) => {
      const logFile = join(dir, 'nats.log');
      const args = [
        '-a',
        '127.0.0.1',
        '-p',
        String(port),
        '-m',
        String(monitorPort),
        ...(options.jetstream ? ['-js', '-sd', join(dir, 'js')] : []),
        '-l',
        logFile,
        ...(options.args ?? []),
      ];
      return {
        kind: 'nats',
        binary,
        args,
        stopSignal: 'SIGINT',
        probe: natsProbe(monitorPort),
        logFile,
        readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
      };
    });
  });
}
