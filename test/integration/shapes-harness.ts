/**
 * Starts the shapes backend for tests — embedded in this process, or one process per role — and reads
 * its HTTP answers and its SSE stream. Every wait here is bounded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type App, startApp } from '../../apps/shapes/app.ts';
import type { Role } from '../../apps/shapes/config.ts';
import { readConfig } from '../../apps/shapes/config.ts';
import { silentLog } from '../../apps/shapes/log.ts';

const root = resolve(import.meta.dirname, '../..');
export const mainScript = join(root, 'apps/shapes/main.ts');

/** A running backend as the HTTP suite sees it. */
export interface Running {
  readonly url: string;
  /** The embedded app, when it runs in this process (to hold its render worker back). */
  readonly app?: App | undefined;
  /** Processes by role, when each role runs in its own. */
  readonly processes?: Readonly<Partial<Record<Role, RoleProcess>>> | undefined;
  stop(): Promise<void>;
}

export function tempDir(label: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `keel-shapes-${label}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

let embedded = 0;

/** The whole backend in this process (role all), on a free port, with a SQLite file in a temporary directory. */
export async function startEmbedded(env: Record<string, string> = {}): Promise<Running> {
  const dir = tempDir('embedded');
  const config = readConfig(
    {
      PORT: '0',
      DRAIN_DELAY_MS: '0',
      // A memory transport of its own, so two embedded backends in one process never answer each other.
      TRANSPORT_URL: `memory://embedded-${process.pid}-${++embedded}`,
      DATABASE_URL: `sqlite:${join(dir.path, 'shapes.db')}`,
      ...env,
    },
    ['--role', 'all'],
  );
  const app = await startApp(config, { log: silentLog, logger: false });
  return {
    url: app.url,
    app,
    async stop() {
      try {
        await app.stop({ timeoutMs: 5000 });
      } finally {
        dir.remove();
      }
    },
  };
}

export interface RoleProcess {
  readonly role: Role;
  readonly child: ChildProcess;
  /** Where its HTTP server listens (health and metrics; the API too for gateway and all). */
  readonly url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then waits (bounded) for the exit; resolves to the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** Spawns `main.ts --role <role>` with `env` and waits (bounded) until it prints where it listens. */
export async function startRole(
  role: Role,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<RoleProcess> {
  const child = spawn(process.execPath, ['--conditions=keel-source', mainScript, '--role', role], {
    cwd: root,
    env: { ...process.env, NODE_NO_WARNINGS: '1', PORT: '0', DRAIN_DELAY_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exited = once(child, 'exit');
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => {
      fail(new Error(`${role} did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const look = (): void => {
      // main.ts's own line, not the JSON log lines around it.
      const m = /^Shapes [^\n]*? at (http:\/\/[\w.:[\]-]+)/m.exec(output);
      if (m !== null) {
        clearTimeout(timer);
        child.stdout?.off('data', look);
        ok(m[1] as string);
      }
    };
    child.stdout?.on('data', look);
    void exited.then(([code]) => {
      clearTimeout(timer);
      fail(new Error(`${role} exited with ${code} before it listened:\n${output}`));
    });
  });
  return {
    role,
    child,
    url,
    output: () => output,
    async stop(stopTimeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      const [code] = await exited;
      clearTimeout(timer);
      return code as number | null;
    },
  };
}

/** The three roles, each in its own process, over NATS and Redis; resolves once the gateway serves calls. */
export async function startDistributed(natsUrl: string, redisUrl: string): Promise<Running> {
  const dir = tempDir('distributed');
  const env = {
    TRANSPORT_URL: natsUrl,
    QUEUE_URL: redisUrl,
    DATABASE_URL: `sqlite:${join(dir.path, 'shapes.db')}`,
  };
  const started: RoleProcess[] = [];
  const stop = async (): Promise<void> => {
    // The gateway first, as a load balancer would stop sending to it; then the services.
    for (const p of started.reverse()) await p.stop();
    dir.remove();
  };
  try {
    const [shapes, renderer] = await Promise.all([
      startRole('shapes', { ...env, INSTANCE_ID: 'shapes-1' }),
      startRole('renderer', { ...env, INSTANCE_ID: 'renderer-1' }),
    ]);
    started.push(shapes, renderer);
    const gateway = await startRole('gateway', { ...env, INSTANCE_ID: 'gw-1' });
    started.push(gateway);
    await until(async () => (await request(gateway.url, '/api/shapes?limit=1')).status === 200, 20_000);
    return { url: gateway.url, processes: { shapes, renderer, gateway }, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: any;
}

/** One HTTP request; a JSON-able `body` is sent as JSON unless `raw` is given. */
export async function request(
  base: string,
  path: string,
  init: {
    method?: string;
    body?: unknown;
    raw?: string | Uint8Array;
    headers?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | Uint8Array | undefined;
  if (init.raw !== undefined) body = init.raw;
  else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(new URL(path, base), {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** Polls `condition` every 50 ms until it holds; throws after `timeoutMs`. */
export async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await condition()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface SseMessage {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: any;
}

/** Reads `GET /api/events`; `next(pred)` waits (bounded) for the first unread message that matches. */
export async function openEvents(
  base: string,
  headers: Record<string, string> = {},
): Promise<{
  readonly messages: SseMessage[];
  next(predicate: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>;
  close(): void;
}> {
  const controller = new AbortController();
  const response = await fetch(new URL('/api/events', base), {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  if (response.status !== 200 || response.body === null) {
    throw new Error(`GET /api/events answered ${response.status}`);
  }
  const messages: SseMessage[] = [];
  let taken = 0;
  const waiters = new Set<() => void>();
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id: string | undefined;
          let event = 'message';
          const data: string[] = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith('id:')) id = line.slice(3).trim();
            else if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length === 0) continue; // a comment (heartbeat)
          let parsed: unknown = data.join('\n');
          try {
            parsed = JSON.parse(parsed as string);
          } catch {}
          messages.push({ id, event, data: parsed });
          for (const wake of waiters) wake();
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    messages,
    async next(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (taken < messages.length) {
          const m = messages[taken++] as SseMessage;
          if (predicate(m)) return m;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `no matching event within ${timeoutMs} ms; heard ${JSON.stringify(messages.map((m) => m.event))}`,
          );
        }
        await new Promise<void>((wake) => {
          const timer = setTimeout(done, left);
          function done(): void {
            clearTimeout(timer);
            waiters.delete(done);
            wake();
          }
          waiters.add(done);
        });
      }
    },
    close() {
      controller.abort();
    },
  };
}
