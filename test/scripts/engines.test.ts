/** The engine launcher: servers start on loopback, stop without leaving a process, and restart in place. */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startNats, startRedis } from '../../scripts/engines.ts';

type Reply = string | null | Reply[];

/** Parses one RESP reply from `text` at `at`; undefined while the reply is incomplete. */
function parseReply(text: string, at = 0): { value: Reply; next: number } | undefined {
  const end = text.indexOf('\r\n', at);
  if (end < 0) return undefined;
  const head = text.slice(at, end);
  const kind = head[0];
  const rest = head.slice(1);
  if (kind === '$') {
    const length = Number(rest);
    if (length < 0) return { value: null, next: end + 2 };
    if (text.length < end + 2 + length + 2) return undefined;
    return { value: text.slice(end + 2, end + 2 + length), next: end + 2 + length + 2 };
  }
  if (kind === '*') {
    const items: Reply[] = [];
    let next = end + 2;
    for (let i = 0; i < Number(rest); i++) {
      const item = parseReply(text, next);
      if (!item) return undefined;
      items.push(item.value);
      next = item.next;
    }
    return { value: items, next };
  }
  return { value: head, next: end + 2 };
}

/** Sends one inline command to redis and resolves to its parsed reply (`+OK`, a string, null, an array). */
function redisCommand(port: number, line: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setEncoding('utf8');
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`${line}\r\n`));
    socket.on('data', (chunk: string) => {
      data += chunk;
      const reply = parseReply(data);
      if (reply) {
        socket.destroy();
        resolve(reply.value);
      }
    });
  });
}

/** Whether a process with this PID exists (a zombie would count as existing). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startRedis', () => {
  it('starts a server that answers on its URL and stop() leaves no process and no directory', async () => {
    const redis = await startRedis();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await redisCommand(redis.port, 'PING')).toBe('+PONG');
    const { pid, dir } = redis;
    expect(processExists(pid)).toBe(true);
    expect(existsSync(dir)).toBe(true);
    await redis.stop();
    expect(processExists(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(await canConnect(redis.port)).toBe(false);
    await redis.stop(); // idempotent
  });

  it('restart() keeps port and data when appendonly is on', async () => {
    await using redis = await startRedis({ appendonly: true });
    expect(await redisCommand(redis.port, 'SET keel:k survived')).toBe('+OK');
    const before = redis.pid;
    await redis.restart();
    expect(redis.pid).not.toBe(before);
    expect(processExists(before)).toBe(false);
    expect(await redisCommand(redis.port, 'GET keel:k')).toBe('survived');
  });

  it('restart() without appendonly starts empty (the data lived only in memory)', async () => {
    await using redis = await startRedis();
    await redisCommand(redis.port, 'SET keel:k gone');
    await redis.restart();
    expect(await redisCommand(redis.port, 'GET keel:k')).toBe(null);
  });

  it('applies maxmemoryPolicy', async () => {
    await using redis = await startRedis({ maxmemoryPolicy: 'allkeys-lru' });
    expect(await redisCommand(redis.port, 'CONFIG GET maxmemory-policy')).toEqual([
      'maxmemory-policy',
      'allkeys-lru',
    ]);
  });

  it('kill() leaves the directory; start() brings the server back on the same port', async () => {
    await using redis = await startRedis({ appendonly: true });
    await redis.kill();
    expect(redis.running).toBe(false);
    expect(await canConnect(redis.port)).toBe(false);
    expect(existsSync(redis.dir)).toBe(true);
    await redis.start();
    expect(await redisCommand(redis.port, 'PING')).toBe('+PONG');
  });

  it('rejects a bad port, naming it', async () => {
    await expect(startRedis({ port: 70000 })).rejects.toThrow(
      /port must be an integer in 1\.\.65535; received 70000/,
    );
  });

  it('reports the server output when the server cannot start', async () => {
    await expect(startRedis({ args: ['--no-such-option', 'x'] })).rejects.toThrow(
      /redis exited during start/,
    );
  });
});

describe('startNats', () => {
  it('starts a server that accepts connections and stop() leaves no process', async () => {
    const nats = await startNats();
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    expect(await canConnect(nats.port)).toBe(true);
    const { pid, dir } = nats;
    await nats.stop();
    expect(processExists(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(await canConnect(nats.port)).toBe(false);
  });

  it('restart() comes back on the same port, with JetStream storage kept', async () => {
    await using nats = await startNats({ jetstream: true });
    const before = nats.pid;
    await nats.restart();
    expect(nats.pid).not.toBe(before);
    expect(processExists(before)).toBe(false);
    expect(await canConnect(nats.port)).toBe(true);
    expect(existsSync(`${nats.dir}/js`)).toBe(true);
  });
});
