/**
 * Starts real redis-server and nats-server processes on free loopback ports for tests and benchmarks,
 * and stops them by PID. Used by scripts/with-engines.ts and directly by fault tests that restart engines.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  type EngineKind,
  httpProbe,
  launch,
  natsProbe,
  postgresProbe,
  redisProbe,
  type Spec,
  terminate,
} from './engine-process.ts';

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
  readonly kind: EngineKind;
  /**
   * `redis://127.0.0.1:PORT`, `nats://127.0.0.1:PORT`, `postgres://keel@127.0.0.1:PORT/keel` or
   * `http://127.0.0.1:PORT` (HAProxy's front end).
   */
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
  postgres: ['postgresql'],
  haproxy: ['haproxy'],
  // Not an engine the tests start as a server, but a browser they drive (playwright-core).
  chromium: ['chromium'],
} as const;

const extraDirs = [
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/sbin',
  '/usr/bin',
  '/sbin',
  '/bin',
  // Debian keeps PostgreSQL's server programs out of PATH, one folder per major.
  '/usr/lib/postgresql/17/bin',
  '/usr/lib/postgresql/16/bin',
  '/usr/lib/postgresql/15/bin',
];

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
  kind: EngineKind,
  port: number,
  options: EngineOptions,
  makeSpec: (dir: string) => Spec,
  url = `${kind}://127.0.0.1:${port}`,
): Promise<Engine> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `keel-${kind}-`));
  let spec: Spec;
  try {
    spec = makeSpec(dir);
  } catch (error) {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
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
    url,
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

export interface PostgresOptions extends EngineOptions {
  /** Name of the database created on first start (the superuser is `keel`, no password, loopback only). @default 'keel' */
  readonly database?: string;
}

/** The bound of each blocking client call to PostgreSQL: libpq would wait for a silent server forever. */
const bounded = { timeout: 15_000, env: { ...process.env, PGCONNECT_TIMEOUT: '5' } };

/** The uid/gid PostgreSQL runs as: itself when not root; the `postgres` user when root (it refuses root). */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/**
 * Starts a PostgreSQL server on 127.0.0.1: `initdb` into `dir/data` on first start (trust auth, superuser
 * `keel`), then `postgres` itself as a child (as the `postgres` user when this process is root), waits for
 * `pg_isready`, and creates the database. Stops with SIGINT (fast shutdown). `url` names the database.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<Engine> {
  checkPort('port', options.port);
  const database = options.database ?? 'keel';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) {
    throw new TypeError(
      `database must be a plain lower-case identifier; received ${JSON.stringify(database)}`,
    );
  }
  const binary = findBinary('postgres');
  const initdb = findBinary('initdb');
  const pgIsReady = findBinary('pg_isready');
  const createdb = findBinary('createdb');
  if (!binary || !initdb || !pgIsReady || !createdb)
    throw new EngineNotFoundError('postgres', enginePackages.postgres);
  const user = postgresUser();
  return onFreePorts(options.port === undefined, async () => {
    const port = options.port ?? (await freePort());
    const engine = await manage(
      'postgres',
      port,
      options,
      (dir) => {
        const data = join(dir, 'data');
        if (user) chownSync(dir, user.uid, user.gid);
        if (!existsSync(join(data, 'PG_VERSION'))) {
          execFileSync(initdb, ['-D', data, '-A', 'trust', '-U', 'keel', '-E', 'UTF8', '--no-sync'], {
            stdio: 'pipe',
            cwd: dir,
            timeout: 60_000,
            ...(user ?? {}),
          });
        }
        return {
          kind: 'postgres',
          binary,
          args: [
            '-D',
            data,
            '-p',
            String(port),
            '-k',
            dir,
            '-c',
            'listen_addresses=127.0.0.1',
            '-c',
            'logging_collector=on',
            '-c',
            `log_directory=${dir}`,
            '-c',
            'log_filename=postgres.log',
            ...(options.args ?? []),
          ],
          stopSignal: 'SIGINT',
          probe: postgresProbe(pgIsReady, port),
          logFile: join(dir, 'postgres.log'),
          readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
          uid: user?.uid,
          gid: user?.gid,
          cwd: dir,
        };
      },
      `postgres://keel@127.0.0.1:${port}/${database}`,
    );
    try {
      const exists = execFileSync(
        findBinary('psql') ?? 'psql',
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'keel',
          '-d',
          'postgres',
          '-tAc',
          `SELECT 1 FROM pg_database WHERE datname = '${database}'`,
        ],
        { encoding: 'utf8', cwd: engine.dir, ...bounded },
      ).trim();
      if (exists !== '1') {
        execFileSync(createdb, ['-h', '127.0.0.1', '-p', String(port), '-U', 'keel', database], {
          stdio: 'pipe',
          cwd: engine.dir,
          ...bounded,
        });
      }
    } catch (error) {
      await engine.stop();
      throw error;
    }
    return engine;
  });
}

export interface HaproxyOptions extends EngineOptions {
  /** The configuration text, given the working directory (for the stats socket and logs). */
  readonly config: (dir: string) => string;
  /** The port of the front end (`url` is `http://127.0.0.1:PORT`); the config must bind it. */
  readonly port: number;
  /** A path on the front end that answers 200 when HAProxy runs (`monitor-uri`). @default '/haproxy-health' */
  readonly monitorPath?: string;
}

/**
 * Starts HAProxy in the foreground (`-db`) with the given configuration, after `haproxy -c` accepted it,
 * and waits for its monitor URI. Stops with SIGUSR1 (soft stop: connections in flight finish).
 */
export async function startHaproxy(options: HaproxyOptions): Promise<Engine> {
  checkPort('port', options.port);
  const binary = findBinary('haproxy');
  if (!binary) throw new EngineNotFoundError('haproxy', enginePackages.haproxy);
  return manage(
    'haproxy',
    options.port,
    options,
    (dir) => {
      const configFile = join(dir, 'haproxy.cfg');
      writeFileSync(configFile, options.config(dir));
      try {
        execFileSync(binary, ['-c', '-q', '-f', configFile], { stdio: 'pipe', timeout: 10_000 });
      } catch (error) {
        const detail = (error as { stderr?: Buffer }).stderr?.toString('utf8').trim() ?? String(error);
        throw new Error(`haproxy refused its configuration ${configFile}: ${detail}`);
      }
      return {
        kind: 'haproxy',
        binary,
        args: ['-f', configFile, '-db', ...(options.args ?? [])],
        stopSignal: 'SIGUSR1',
        probe: httpProbe(options.port, options.monitorPath ?? '/haproxy-health'),
        logFile: join(dir, 'haproxy.log'),
        readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
      };
    },
    `http://127.0.0.1:${options.port}`,
  );
}

export interface NatsCluster extends AsyncDisposable {
  /** One engine per node, each with its own client port. */
  readonly nodes: readonly Engine[];
  /** Every node's client URL joined by commas, as Keel's `nats://` transport accepts. */
  readonly url: string;
  /** Stops every node. */
  stop(): Promise<void>;
}

/** Waits until a node's monitor reports `routes` routes to the other nodes. */
async function waitForRoutes(monitorPort: number, routes: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = await new Promise<number>((resolve) => {
      const req = httpGet(
        { host: '127.0.0.1', port: monitorPort, path: '/routez', agent: false, timeout: 500 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.once('end', () => {
            try {
              resolve(Number((JSON.parse(body) as { num_routes?: number }).num_routes ?? 0));
            } catch {
              resolve(0);
            }
          });
          res.once('error', () => resolve(0));
        },
      );
      req.once('timeout', () => req.destroy());
      req.once('error', () => resolve(0));
    });
    if (seen >= routes) return;
    if (Date.now() > deadline)
      throw new Error(
        `nats node (monitor ${monitorPort}) has ${seen} of ${routes} routes after ${timeoutMs} ms`,
      );
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Starts a NATS cluster of `nodes` servers on loopback, each routed to the others, and waits until every
 * node sees every other. Restarting one node (`nodes[i].restart()`) keeps its ports, so it rejoins.
 */
export async function startNatsCluster(
  options: { readonly nodes?: number; readonly readyTimeoutMs?: number } = {},
): Promise<NatsCluster> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 16)
    throw new TypeError(`nodes must be an integer in 1..16; received ${String(count)}`);
  const clusterPorts: number[] = [];
  const monitorPorts: number[] = [];
  while (clusterPorts.length < count) {
    const p = await freePort();
    if (!clusterPorts.includes(p)) clusterPorts.push(p);
  }
  while (monitorPorts.length < count) {
    const p = await freePort();
    if (!clusterPorts.includes(p) && !monitorPorts.includes(p)) monitorPorts.push(p);
  }
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const nodes: Engine[] = [];
  try {
    for (let i = 0; i < count; i++) {
      nodes.push(
        await startNats({
          monitorPort: monitorPorts[i] as number,
          ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
          args: [
            '--cluster_name',
            'keel',
            '--cluster',
            `nats://127.0.0.1:${clusterPorts[i]}`,
            '--routes',
            routes,
          ],
        }),
      );
    }
    if (count > 1) {
      await Promise.all(
        monitorPorts.map((port) => waitForRoutes(port, count - 1, options.readyTimeoutMs ?? 10_000)),
      );
    }
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  return { nodes, url: nodes.map((node) => node.url).join(','), stop, [Symbol.asyncDispose]: stop };
}
