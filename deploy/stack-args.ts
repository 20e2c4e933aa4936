/** The command line of `npm run stack`: what to start, on which ports, or which role to restart. */

export type Role = 'gateways' | 'services' | 'workers';
export const roles: readonly Role[] = ['gateways', 'services', 'workers'];

export interface StackArgs {
  readonly command: 'up' | 'restart' | 'status';
  /** For `restart`: the role whose instances are replaced one at a time. */
  readonly role?: Role;
  readonly gateways: number;
  readonly services: number;
  readonly workers: number;
  /** HAProxy's front-end port; 0 picks a free one. */
  readonly port: number;
  readonly natsNodes: number;
  /** Where `stack.json`, the control socket and the logs live. */
  readonly runDir: string;
  /** Whether process logs are also streamed to the terminal. */
  readonly quiet: boolean;
}

export const usage = `usage:
  npm run stack [-- --gateways N] [--services M] [--workers K] [--port P] [--nats-nodes 3] [--run-dir run] [--quiet]
  npm run stack -- restart gateways|services|workers
  npm run stack -- status

Starts a NATS cluster, redis-server (append-only file), PostgreSQL (unless DATABASE_URL names one),
N gateways, M shapes services and K render workers, and HAProxy in front on --port (default 8080).
Ctrl-C or SIGTERM stops everything in order.`;

export class StackUsageError extends Error {
  constructor(message: string) {
    super(`${message}\n\n${usage}`);
    this.name = 'StackUsageError';
  }
}

function count(flag: string, raw: string | undefined, min: number, max: number): number {
  const value = Number(raw);
  if (raw === undefined || !/^\d+$/.test(raw) || value < min || value > max) {
    throw new StackUsageError(`${flag} takes an integer in ${min}..${max}; received ${raw ?? 'nothing'}`);
  }
  return value;
}

export function parseStackArgs(argv: readonly string[]): StackArgs {
  let command: StackArgs['command'] = 'up';
  let role: Role | undefined;
  const out = { gateways: 2, services: 2, workers: 2, port: 8080, natsNodes: 3, runDir: 'run', quiet: false };
  const rest = [...argv];
  if (rest[0] === 'restart' || rest[0] === 'status') {
    command = rest.shift() as 'restart' | 'status';
    if (command === 'restart') {
      const named = rest.shift();
      if (!roles.includes(named as Role)) {
        throw new StackUsageError(`restart takes one of ${roles.join(', ')}; received ${named ?? 'nothing'}`);
      }
      role = named as Role;
    }
  }
  while (rest.length > 0) {
    const flag = rest.shift() as string;
    switch (flag) {
      case '--gateways':
        out.gateways = count(flag, rest.shift(), 1, 32);
        break;
      case '--services':
        out.services = count(flag, rest.shift(), 1, 32);
        break;
      case '--workers':
        out.workers = count(flag, rest.shift(), 1, 32);
        break;
      case '--port':
        out.port = count(flag, rest.shift(), 0, 65535);
        break;
      case '--nats-nodes':
        out.natsNodes = count(flag, rest.shift(), 1, 9);
        break;
      case '--run-dir': {
        const dir = rest.shift();
        if (!dir) throw new StackUsageError('--run-dir takes a directory');
        out.runDir = dir;
        break;
      }
      case '--quiet':
        out.quiet = true;
        break;
      case '--help':
      case '-h':
        throw new StackUsageError('help');
      default:
        throw new StackUsageError(`unknown argument ${flag}`);
    }
  }
  return role === undefined ? { command, ...out } : { command, role, ...out };
}
