/**
 * Runs a command with a redis-server and a nats-server started for it:
 * `node scripts/with-engines.ts vitest run` exports KEEL_REDIS_URL and KEEL_NATS_URL to the command, stops
 * both engines when it ends (also on failure, SIGINT or SIGTERM) and exits with the command's code.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { type Engine, enginePackages, findBinary, startNats, startRedis } from './engines.ts';

const command = process.argv.slice(2);
if (command.length === 0) {
  console.error('usage: node scripts/with-engines.ts <command> [args...]');
  process.exit(2);
}

/** Installs the Debian packages of missing engines when running as root; otherwise says what to install. */
function ensureEngines(): void {
  const missing = (Object.keys(enginePackages) as (keyof typeof enginePackages)[]).filter(
    (binary) => findBinary(binary) === undefined,
  );
  if (missing.length === 0) return;
  const packages = missing.flatMap((binary) => enginePackages[binary]);
  const notInstalled = packages.filter((pkg) => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format syntax, not a template.
    const status = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
    return status.stdout !== 'install ok installed';
  });
  const isRoot = process.getuid?.() === 0;
  const hasApt = findBinary('apt-get') !== undefined;
  if (!isRoot || !hasApt || notInstalled.length === 0) {
    const list = (notInstalled.length > 0 ? notInstalled : packages).join(' ');
    console.error(
      `with-engines: ${missing.join(' and ')} not found; install with: sudo apt-get install -y ${list}`,
    );
    process.exit(1);
  }
  console.error(`with-engines: installing ${notInstalled.join(' ')} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq', '-o', 'DPkg::Lock::Timeout=120'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  const install =
    update.status === 0
      ? spawnSync(
          'apt-get',
          [
            'install',
            '-y',
            '-qq',
            '-o',
            'DPkg::Lock::Timeout=120',
            '--no-install-recommends',
            ...notInstalled,
          ],
          {
            stdio: ['ignore', 'ignore', 'inherit'],
            env,
          },
        )
      : update;
  const still = missing.filter((binary) => findBinary(binary) === undefined);
  if (install.status !== 0 || still.length > 0) {
    console.error(`with-engines: installing ${notInstalled.join(' ')} failed; install them by hand`);
    process.exit(1);
  }
}

ensureEngines();

const engines: Engine[] = [];
let child: ChildProcess | undefined;
let received: NodeJS.Signals | undefined;
let killTimer: NodeJS.Timeout | undefined;

// Installed before the engines start, so a Ctrl-C during start-up still stops them.
const onSignal = (signal: NodeJS.Signals) => {
  received ??= signal;
  if (child === undefined) return;
  child.kill(signal);
  // A command that ignores the signal still has to end, so the engines can be stopped.
  killTimer ??= setTimeout(() => child?.kill('SIGKILL'), 10_000);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const signalCode = (signal: NodeJS.Signals) => 128 + (constants.signals[signal] ?? 0);

let exitCode = 1;
try {
  const started = await Promise.allSettled([startRedis(), startNats()]);
  for (const r of started) if (r.status === 'fulfilled') engines.push(r.value);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const [redis, nats] = engines as [Engine, Engine];
  if (received) {
    exitCode = signalCode(received);
  } else {
    console.error(`with-engines: redis ${redis.url} (pid ${redis.pid}), nats ${nats.url} (pid ${nats.pid})`);
    exitCode = await run(command, { ...process.env, KEEL_REDIS_URL: redis.url, KEEL_NATS_URL: nats.url });
  }
} catch (error) {
  console.error(`with-engines: ${error instanceof Error ? error.message : String(error)}`);
  exitCode = received ? signalCode(received) : 1;
} finally {
  await Promise.allSettled(engines.map((e) => e.stop()));
  clearTimeout(killTimer);
}
process.exit(exitCode);

/** Runs the command with `env`; resolves to its exit code (128+n when signal n ended it). */
function run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const [file, ...args] = argv as [string, ...string[]];
    child = spawn(file, args, { stdio: 'inherit', env });
    child.once('error', (error) => {
      console.error(`with-engines: cannot run ${file}: ${error.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? signalCode(signal) : 1)));
  });
}
