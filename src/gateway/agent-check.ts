/**
 * The HAProxy agent check: a tiny TCP server that answers each connection with one line telling the
 * load balancer what this instance itself knows — `drain` while it starts or drains, `ready up` with a
 * weight from its own event-loop load while it serves — so a drain reaches HAProxy from the instance.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { checkOptions, describe, InvalidArgumentError } from '../errors.ts';

/** What the agent is asked to say: the instance's lifecycle state. */
export type AgentState = 'starting' | 'ready' | 'draining' | 'stopped';

export interface AgentCheckOptions {
  /** TCP port to listen on; 0 picks a free one. */
  readonly port: number;
  /** @default '127.0.0.1' */
  readonly host?: string | undefined;
  /** Reads the instance's state at each check. */
  readonly state: () => AgentState;
  /**
   * Whether `ready` also carries a weight from the event loop's utilisation since the previous check
   * (100% idle → `100%`, busy → down to `minWeightPercent`), so a loaded instance gets fewer new
   * connections under `balance leastconn`. @default true
   */
  readonly weighted?: boolean | undefined;
  /** The lowest weight a busy instance announces. @default 10 */
  readonly minWeightPercent?: number | undefined;
}

export interface AgentCheck extends AsyncDisposable {
  /** The port listened on (the one chosen when 0 was given). */
  readonly port: number;
  /** The line the agent would send now (without the newline). */
  answer(): string;
  close(): Promise<void>;
}

/** Starts the agent-check server; resolves once it listens. */
export async function startAgentCheck(options: AgentCheckOptions): Promise<AgentCheck> {
  checkOptions('startAgentCheck() options', options, [
    'port',
    'host',
    'state',
    'weighted',
    'minWeightPercent',
  ]);
  const { port, state } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(
      `startAgentCheck() port must be an integer in 0..65535; received ${describe(port)}`,
    );
  }
  if (typeof state !== 'function') {
    throw new InvalidArgumentError(`startAgentCheck() state must be a function; received ${describe(state)}`);
  }
  const minWeight = options.minWeightPercent ?? 10;
  if (!Number.isInteger(minWeight) || minWeight < 1 || minWeight > 100) {
    throw new InvalidArgumentError(
      `startAgentCheck() minWeightPercent must be an integer in 1..100; received ${describe(minWeight)}`,
    );
  }
  const weighted = options.weighted ?? true;
  let last = performance.eventLoopUtilization();

  const answer = (): string => {
    const now = state();
    if (now === 'starting' || now === 'draining') return 'drain';
    if (now === 'stopped') return 'down';
    if (!weighted) return 'ready up';
    const current = performance.eventLoopUtilization();
    const used = performance.eventLoopUtilization(current, last).utilization;
    last = current;
    const weight = Math.max(minWeight, Math.min(100, Math.round(100 * (1 - used))));
    return `ready up ${weight}%`;
  };

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(2000, () => socket.destroy());
    socket.end(`${answer()}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
    return closing;
  };
  return { port: bound, answer, close, [Symbol.asyncDispose]: close };
}
