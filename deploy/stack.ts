/**
 * `npm run stack`: the shapes backend scaled out on one host — a NATS cluster, redis-server with its
 * append-only file, PostgreSQL, N gateways, M shapes services and K render workers, HAProxy in front.
 * It waits until everything is ready, prints the URL, writes `run/stack.json`, streams the logs, answers
 * `npm run stack -- restart <role>` over a control socket, and on Ctrl-C / SIGTERM stops everything in
 * order and leaves nothing running.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import {
  type Engine,
  findBinary,
  freePort,
  type NatsCluster,
  startHaproxy,
  startNatsCluster,
  startPostgres,
  startRedis,
} from '../scripts/engines.ts';
import { haproxyConfig } from './haproxy.ts';
import { haproxyCommand, serverStatuses } from './haproxy-admin.ts';
import { type AppRole, type RoleProcess, startRoleProcess } from './role-process.ts';
import { parseStackArgs, type Role, type StackArgs, StackUsageError, usage } from './stack-args.ts';

const root = resolve(import.meta.dirname, '..');
const roleOf: Record<Role, AppRole> = { gateways: 'gateway', services: 'shapes', workers: 'renderer' };
const prefixOf: Record<Role, string> = { gateways: 'gw', services: 'svc', workers: 'wrk' };
const readyTimeoutMs = 60_000;
const stopTimeoutMs = 30_000;
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Debian packages per binary the stack needs. */
const packages: Record<string, string> = {
  'nats-server': 'nats-server',
  'redis-server': 'redis-server',
  haproxy: 'haproxy',
  postgres: 'postgresql',
};

/** Installs missing engines from Debian when root; otherwise says what to install and stops. */
function ensureEngines(needPostgres: boolean): void {
  const missing = Object.entries(packages)
    .filter(([binary]) => binary !== 'postgres' || needPostgres)
    .filter(([binary]) => findBinary(binary) === undefined)
    .map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `the stack needs ${missing.join(', ')}; install them: sudo apt-get install -y ${missing.join(' ')}`,
    );
  }
  console.log(`installing ${missing.join(' ')} from Debian...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  });
}

interface Slot {
  readonly role: Role;
  readonly name: string;
  /** Its HTTP port: the gateway's API, or a service's or worker's health endpoint (new at each replacement). */
  port: number;
  readonly agentPort?: number;
  process: RoleProcess;
}

export class Stack {
  readonly args: StackArgs;
  readonly runDir: string;
  readonly logDir: string;
  readonly socketPath: string;
  readonly adminSocket: string;
  #nats: NatsCluster | undefined;
  #redis: Engine | undefined;
  #postgres: Engine | undefined;
  #haproxy: Engine | undefined;
  #databaseUrl = '';
  #port = 0;
  #slots: Slot[] = [];
  #control: Server | undefined;
  #stopping: Promise<void> | undefined;
  #busy: Promise<void> = Promise.resolve();
  #starting: Promise<void> | undefined;

  constructor(args: StackArgs) {
    this.args = args;
    this.runDir = resolve(root, args.runDir);
    this.logDir = join(this.runDir, 'logs');
    this.socketPath = join(this.runDir, 'stack.sock');
    this.adminSocket = join(this.runDir, 'haproxy.sock');
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  #env(): Record<string, string> {
    return {
      TRANSPORT_URL: this.#nats?.url ?? '',
      QUEUE_URL: this.#redis?.url ?? '',
      DATABASE_URL: this.#databaseUrl,
      HOST: '127.0.0.1',
    };
  }

  #spawn(slot: Omit<Slot, 'process'>): RoleProcess {
    const env: Record<string, string> = { ...this.#env() };
    if (slot.agentPort !== undefined) env.AGENT_PORT = String(slot.agentPort);
    // HAProxy has already stopped sending to a gateway the stack drains, so a short drain delay suffices.
    if (slot.role === 'gateways') env.DRAIN_DELAY_MS = process.env.DRAIN_DELAY_MS ?? '2500';
    // Services and workers take no HTTP traffic from HAProxy: nothing needs time to notice them leave.
    else env.DRAIN_DELAY_MS = '0';
    return startRoleProcess({
      role: roleOf[slot.role],
      name: slot.name,
      env,
      logDir: this.logDir,
      root,
      echo: !this.args.quiet,
      port: slot.port,
    });
  }

  /**
   * Starts everything; resolves once HAProxy sees every gateway up. A stop() meanwhile ends the start at
   * its next step, and stop() then stops whatever had started.
   */
  up(): Promise<void> {
    this.#starting ??= this.#up();
    return this.#starting;
  }

  #stopIfAsked(): void {
    if (this.#stopping) throw new Error('the stack was stopped while it started');
  }

  async #up(): Promise<void> {
    const { args } = this;
    this.#refuseSecondStack();
    ensureEngines(process.env.DATABASE_URL === undefined);
    mkdirSync(this.logDir, { recursive: true });
    rmSync(this.socketPath, { force: true });
    rmSync(this.adminSocket, { force: true });
    this.#port = args.port === 0 ? await freePort() : args.port;
    await this.#checkPortFree(this.#port);

    console.log(`starting a ${args.natsNodes}-node NATS cluster, redis-server (AOF) and PostgreSQL...`);
    const [nats, redis, postgres] = await Promise.all([
      startNatsCluster({ nodes: args.natsNodes }),
      startRedis({ appendonly: true }),
      process.env.DATABASE_URL === undefined ? startPostgres() : Promise.resolve(undefined),
    ]);
    this.#nats = nats;
    this.#redis = redis;
    this.#postgres = postgres;
    this.#databaseUrl = process.env.DATABASE_URL ?? postgres?.url ?? '';
    this.#stopIfAsked();

    const planned: Omit<Slot, 'process'>[] = [];
    for (const role of ['services', 'workers'] as const) {
      for (let i = 1; i <= args[role]; i++)
        planned.push({ role, name: `${prefixOf[role]}${i}`, port: await freePort() });
    }
    for (let i = 1; i <= args.gateways; i++) {
      planned.push({ role: 'gateways', name: `gw${i}`, port: await freePort(), agentPort: await freePort() });
    }
    // Services first: a gateway is ready only when the services it calls are reachable.
    for (const group of [
      planned.filter((s) => s.role !== 'gateways'),
      planned.filter((s) => s.role === 'gateways'),
    ]) {
      this.#stopIfAsked();
      const started = group.map((slot) => ({ ...slot, process: this.#spawn(slot) }));
      this.#slots.push(...started);
      await Promise.all(started.map((slot) => slot.process.ready(readyTimeoutMs)));
    }

    const gateways = this.#slots.filter((s) => s.role === 'gateways');
    this.#stopIfAsked();
    this.#haproxy = await startHaproxy({
      port: this.#port,
      dir: this.runDir,
      config: () =>
        haproxyConfig({
          port: this.#port,
          adminSocket: this.adminSocket,
          gateways: gateways.map((g) => ({ name: g.name, port: g.port, agentPort: g.agentPort })),
        }),
    });
    await this.#waitServers((s) => s.status.startsWith('UP'), gateways.length, readyTimeoutMs);
    await this.#listenControl();
    this.#writeState();
    console.log(`\nKeel shapes stack ready at ${this.url}  (state: ${join(this.runDir, 'stack.json')})\n`);
  }

  #refuseSecondStack(): void {
    const file = join(this.runDir, 'stack.json');
    if (!existsSync(file)) return;
    try {
      const state = JSON.parse(readFileSync(file, 'utf8')) as { pid?: number };
      if (state.pid !== undefined) {
        process.kill(state.pid, 0);
        throw new Error(`a stack is already running (pid ${state.pid}, ${file}); stop it first`);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH' && !(error instanceof SyntaxError)) throw error;
    }
  }

  #checkPortFree(port: number): Promise<void> {
    return new Promise((resolvePort, reject) => {
      const probe = createServer();
      probe.once('error', () => reject(new Error(`port ${port} is in use; pick another with --port`)));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolvePort()));
    });
  }

  async #waitServers(
    ok: (s: { name: string; status: string }) => boolean,
    count: number,
    timeoutMs: number,
    only?: string,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const servers = (await serverStatuses(this.adminSocket, 'gateways')).filter(
        (s) => only === undefined || s.name === only,
      );
      if (servers.filter(ok).length >= count) return;
      if (Date.now() > deadline) {
        throw new Error(
          `HAProxy servers not as expected within ${timeoutMs} ms: ${servers.map((s) => `${s.name}=${s.status}`).join(' ')}`,
        );
      }
      await delay(100);
    }
  }

  #writeState(): void {
    const state = {
      url: this.url,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      control: this.socketPath,
      haproxyAdmin: this.adminSocket,
      engines: {
        nats: this.#nats?.nodes.map((n) => ({ url: n.url, pid: n.pid, log: join(n.dir, 'nats.log') })),
        redis: this.#redis && {
          url: this.#redis.url,
          pid: this.#redis.pid,
          log: join(this.#redis.dir, 'redis.log'),
        },
        postgres: this.#postgres
          ? {
              url: this.#postgres.url,
              pid: this.#postgres.pid,
              log: join(this.#postgres.dir, 'postgres.log'),
            }
          : { url: this.#databaseUrl, external: true },
        haproxy: this.#haproxy && {
          url: this.#haproxy.url,
          pid: this.#haproxy.pid,
          config: join(this.runDir, 'haproxy.cfg'),
        },
      },
      processes: this.#slots.map((s) => ({
        role: roleOf[s.role],
        name: s.name,
        pid: s.process.pid,
        port: s.port,
        agentPort: s.agentPort,
        log: s.process.logFile,
      })),
    };
    writeFileSync(join(this.runDir, 'stack.json'), `${JSON.stringify(state, null, 2)}\n`);
  }

  /** Engines and processes, for tests and fault injection. */
  get parts() {
    return {
      nats: this.#nats,
      redis: this.#redis,
      postgres: this.#postgres,
      haproxy: this.#haproxy,
      slots: this.#slots,
    };
  }

  /** Starts the process of slot `name` again (after a kill) on the same ports; resolves once it is ready. */
  async revive(name: string): Promise<void> {
    const slot = this.#slots.find((s) => s.name === name);
    if (slot === undefined) throw new Error(`no process named ${name}`);
    if (slot.process.running) return;
    slot.process = this.#spawn(slot);
    await slot.process.ready(readyTimeoutMs);
    if (slot.role === 'gateways')
      await this.#waitServers((s) => s.status.startsWith('UP'), 1, readyTimeoutMs, name);
    this.#writeState();
  }

  /** Replaces the instances of `role` one at a time, never leaving the role without a ready instance. */
  restart(role: Role, progress: (line: string) => void = console.log): Promise<void> {
    const run = this.#busy.then(() => this.#restart(role, progress));
    this.#busy = run.catch(() => undefined);
    return run;
  }

  async #restart(role: Role, progress: (line: string) => void): Promise<void> {
    for (const slot of this.#slots.filter((s) => s.role === role)) {
      if (this.#stopping) throw new Error('the stack is stopping');
      if (role === 'gateways') {
        // HAProxy stops sending new requests at once; the gateway's own drain then finishes what it has.
        for (const backend of ['gateways', 'events']) {
          await haproxyCommand(this.adminSocket, `set server ${backend}/${slot.name} state drain`);
        }
        progress(`${slot.name}: draining`);
        const exit = await slot.process.stop(stopTimeoutMs);
        progress(`${slot.name}: stopped (code ${exit.code}${exit.signal ? `, ${exit.signal}` : ''})`);
        if (this.#stopping) throw new Error('the stack is stopping');
        slot.process = this.#spawn(slot);
        await slot.process.ready(readyTimeoutMs);
        for (const backend of ['gateways', 'events']) {
          await haproxyCommand(this.adminSocket, `set server ${backend}/${slot.name} state ready`);
        }
        await this.#waitServers((s) => s.status.startsWith('UP'), 1, readyTimeoutMs, slot.name);
        progress(`${slot.name}: ready again (pid ${slot.process.pid})`);
      } else {
        // A service or worker takes no traffic on its port: start the replacement first (on a port of its
        // own, so its readiness is its own), then let the old one drain.
        const previous = slot.process;
        slot.port = await freePort();
        slot.process = this.#spawn(slot);
        await slot.process.ready(readyTimeoutMs);
        progress(`${slot.name}: replacement ready (pid ${slot.process.pid})`);
        const exit = await previous.stop(stopTimeoutMs);
        progress(
          `${slot.name}: old instance stopped (code ${exit.code}${exit.signal ? `, ${exit.signal}` : ''})`,
        );
      }
      this.#writeState();
    }
  }

  async #listenControl(): Promise<void> {
    this.#control = createServer((socket) => {
      socket.setEncoding('utf8');
      // One short command line, within 5 s; the restart it asks for may then take minutes.
      socket.setTimeout(5000, () => socket.destroy());
      let line = '';
      let taken = false;
      socket.on('data', (chunk: string) => {
        if (taken) return;
        line += chunk;
        if (line.length > 200) {
          socket.destroy();
          return;
        }
        if (!line.includes('\n')) return;
        taken = true;
        socket.setTimeout(0);
        const request = line.slice(0, line.indexOf('\n')).trim();
        const match = /^restart (gateways|services|workers)$/.exec(request);
        if (!match) {
          socket.end(`error unknown command ${JSON.stringify(request)}\n`);
          return;
        }
        this.restart(match[1] as Role, (text) => socket.write(`${text}\n`)).then(
          () => socket.end('ok\n'),
          (error: Error) => socket.end(`error ${error.message}\n`),
        );
      });
      socket.on('error', () => socket.destroy());
    });
    await new Promise<void>((ok, fail) => {
      this.#control?.once('error', fail);
      this.#control?.listen(this.socketPath, () => ok());
    });
  }

  /** Stops everything in order: HAProxy, gateways, services and workers, then the engines. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#control?.close();
      // A start or a restart under way ends at its next step (each is bounded); then nothing it made is missed.
      await this.#starting?.catch(() => undefined);
      await this.#busy;
      const errors: unknown[] = [];
      const step = async (fn: () => Promise<unknown>) => {
        try {
          await fn();
        } catch (error) {
          errors.push(error);
        }
      };
      await step(async () => this.#haproxy?.stop());
      for (const role of ['gateways', 'services', 'workers'] as const) {
        await Promise.all(
          this.#slots.filter((s) => s.role === role).map((s) => step(() => s.process.stop(stopTimeoutMs))),
        );
      }
      await Promise.all([
        step(async () => this.#nats?.stop()),
        step(async () => this.#redis?.stop()),
        step(async () => this.#postgres?.stop()),
      ]);
      rmSync(this.socketPath, { force: true });
      rmSync(join(this.runDir, 'stack.json'), { force: true });
      if (errors.length > 0) throw new AggregateError(errors, 'some parts of the stack did not stop cleanly');
    })();
    return this.#stopping;
  }
}

/** `npm run stack -- restart <role>`: asks the running stack over its control socket and prints its progress. */
async function requestRestart(args: StackArgs): Promise<number> {
  const file = join(resolve(root, args.runDir), 'stack.json');
  if (!existsSync(file)) {
    console.error(`no running stack (${file} is missing); start one with npm run stack`);
    return 1;
  }
  const { control } = JSON.parse(readFileSync(file, 'utf8')) as { control: string };
  return new Promise((done) => {
    const socket = connect({ path: control });
    let tail = '';
    socket.setEncoding('utf8');
    // Each instance's step prints a line; silence past an instance's longest start and stop means a hung stack.
    socket.setTimeout(readyTimeoutMs + stopTimeoutMs + 30_000, () => {
      console.error(`the stack at ${control} said nothing for too long; giving up`);
      socket.destroy();
    });
    socket.once('connect', () => socket.write(`restart ${args.role}\n`));
    socket.on('data', (chunk: string) => {
      process.stdout.write(chunk);
      tail = (tail + chunk).slice(-1000);
    });
    socket.once('close', () => done(tail.trimEnd().split('\n').at(-1) === 'ok' ? 0 : 1));
    socket.once('error', (error) => {
      console.error(`cannot reach the stack at ${control}: ${error.message}`);
      done(1);
    });
  });
}

async function main(argv: readonly string[]): Promise<number> {
  let args: StackArgs;
  try {
    args = parseStackArgs(argv);
  } catch (error) {
    if (error instanceof StackUsageError) {
      console.error(error.message.startsWith('help') ? usage : error.message);
      return error.message.startsWith('help') ? 0 : 2;
    }
    throw error;
  }
  if (args.command === 'restart') return requestRestart(args);
  if (args.command === 'status') {
    const file = join(resolve(root, args.runDir), 'stack.json');
    if (!existsSync(file)) {
      console.error('no running stack');
      return 1;
    }
    process.stdout.write(readFileSync(file, 'utf8'));
    return 0;
  }
  const stack = new Stack(args);
  let signalled: (() => void) | undefined;
  const stopped = new Promise<void>((r) => {
    signalled = r;
  });
  const onSignal = () => signalled?.();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await Promise.race([stack.up(), stopped]);
    await stopped;
    console.log('stopping the stack...');
    await stack.stop();
    console.log('stack stopped');
    return 0;
  } catch (error) {
    console.error(`stack: ${(error as Error).message}`);
    await stack.stop().catch((e: Error) => console.error(`stack: ${e.message}`));
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
