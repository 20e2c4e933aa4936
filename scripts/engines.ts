/**
 * Starts real redis-server and nats-server processes on free loopback ports for tests and benchmarks,
 * and stops them by PID. Used by scripts/with-engines.ts and directly by fault tests that restart engines.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { launch, natsProbe, redisProbe, type Spec, terminate } from './engine-process.ts';

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

/** Starts a redis-server on 127.0.0.1 (no config file read; data and log in a throwaway directory) and waits for PONG. */
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

/** Starts a nats-server on 127.0.0.1 (no config file read; JetStream data and log in a throwaway directory) and waits for `/healthz`. */
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
