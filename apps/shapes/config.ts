/** The app's configuration, read from the environment and checked by one schema before anything starts. */
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { defaultDatabaseUrl, parseDatabaseUrl } from './storage/open-repository.ts';

export const roles = ['all', 'gateway', 'shapes', 'renderer'] as const;
export type Role = (typeof roles)[number];

const hidePassword = (url: string): string => url.replace(/\/\/[^@/]*@/, '//***@');

const url = (schemes: readonly string[], why: string, list = false) =>
  z.string().superRefine((value, ctx) => {
    let scheme: string | undefined;
    // A NATS cluster is a comma-separated list of servers (nats://h1:4222,nats://h2:4222).
    for (const part of list ? value.split(',') : [value]) {
      let each: string | undefined;
      try {
        each = new URL(part.includes('://') ? part : `nats://${part}`).protocol.slice(0, -1);
      } catch {}
      if (each === undefined || (scheme !== undefined && each !== scheme)) {
        scheme = undefined;
        break;
      }
      scheme = each;
    }
    if (scheme === undefined || !schemes.includes(scheme)) {
      ctx.addIssue({ code: 'custom', message: `${why}; received ${JSON.stringify(hidePassword(value))}` });
    }
  });

const Env = z.object({
  PORT: z
    .string()
    .regex(/^\d{1,5}$/, 'must be a port number from 0 to 65535')
    .transform(Number)
    .refine((n) => n <= 65535, 'must be a port number from 0 to 65535')
    .default(3000),
  HOST: z.string().min(1, 'must name an interface to listen on').default('127.0.0.1'),
  TRANSPORT_URL: url(
    ['memory', 'nats'],
    'must be memory://, nats://host:port or a NATS cluster nats://h1:4222,nats://h2:4222 (services need queue groups, which Redis pub/sub lacks)',
    true,
  ).default('memory://'),
  QUEUE_URL: url(['memory', 'redis', 'rediss'], 'must be memory:// or redis://host:port[/db]').default(
    'memory://',
  ),
  DATABASE_URL: z
    .string()
    .superRefine((value, ctx) => {
      try {
        parseDatabaseUrl(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^DATABASE_URL: /, '') });
      }
    })
    .default(defaultDatabaseUrl),
  DRAIN_DELAY_MS: z
    .string()
    .regex(/^\d{1,7}$/, 'must be a whole number of milliseconds up to 9999999')
    .transform(Number)
    .default(5000),
  RENDER_PACE_MS: z
    .string()
    .regex(/^\d{1,5}$/, 'must be a whole number of milliseconds up to 99999')
    .transform(Number)
    .default(0),
  AGENT_PORT: z
    .string()
    .regex(/^\d{1,5}$/, 'must be a port number from 1 to 65535')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 65535, 'must be a port number from 1 to 65535')
    .optional(),
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1 to 64 letters, digits, _ . : or -')
    .optional(),
});

export interface Config {
  readonly role: Role;
  readonly port: number;
  readonly host: string;
  readonly transportUrl: string;
  readonly queueUrl: string;
  readonly databaseUrl: string;
  /** How long readiness says 503 before the listener closes on SIGTERM. */
  readonly drainDelayMs: number;
  /** A pause after each shape a render draws, so its progress can be watched. */
  readonly renderPaceMs: number;
  /** Where HAProxy's agent check asks this gateway for `ready`, `drain` or its weight; none when unset. */
  readonly agentPort: number | undefined;
  /** This instance's id (X-Served-By, logs); the broker's node id when not given. */
  readonly instanceId: string | undefined;
}

/**
 * Reads the configuration from `env` and the `--role` argument.
 * @throws ConfigError whose message names the variable (or `--role`) and what it must be.
 */
export function readConfig(env: NodeJS.ProcessEnv, argv: readonly string[]): Config {
  const role = readRole(argv);
  // An empty variable counts as unset, as shells make it easy to export one by accident.
  const given = Object.fromEntries(
    Object.keys(Env.shape).flatMap((key) =>
      env[key] === undefined || env[key] === '' ? [] : [[key, env[key]]],
    ),
  );
  const parsed = Env.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const variable = String(issue.path[0] ?? 'environment');
    throw new ConfigError(variable, issue.message);
  }
  const e = parsed.data;
  return {
    role,
    port: e.PORT,
    host: e.HOST,
    transportUrl: e.TRANSPORT_URL,
    queueUrl: e.QUEUE_URL,
    databaseUrl: e.DATABASE_URL,
    drainDelayMs: e.DRAIN_DELAY_MS,
    agentPort: e.AGENT_PORT,
    renderPaceMs: e.RENDER_PACE_MS,
    instanceId: e.INSTANCE_ID,
  };
}

function readRole(argv: readonly string[]): Role {
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--role') value = argv[++i] ?? '';
    else if (arg.startsWith('--role=')) value = arg.slice('--role='.length);
    else throw new ConfigError(arg, `unknown argument; usage: main.ts [--role ${roles.join('|')}]`);
  }
  if (value === undefined) return 'all';
  if (!(roles as readonly string[]).includes(value)) {
    throw new ConfigError('--role', `must be one of ${roles.join(', ')}; received ${JSON.stringify(value)}`);
  }
  return value as Role;
}
