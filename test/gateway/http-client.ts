/** Helpers for the gateway tests: an SSE reader over a real socket, bounded waits, a loopback listen. */
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';

export interface SseFrame {
  readonly event?: string;
  readonly id?: string;
  readonly data?: string;
  readonly retry?: string;
  readonly comment?: string;
}

/** Splits SSE text into frames (a frame ends with a blank line); fields as the last value seen. */
export function parseFrames(text: string): SseFrame[] {
  const frames: SseFrame[] = [];
  for (const block of text.split('\n\n')) {
    if (block === '') continue;
    const frame: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) frame.comment = line.slice(1).trim();
      else {
        const at = line.indexOf(':');
        frame[line.slice(0, at)] = line.slice(at + 1).replace(/^ /, '');
      }
    }
    frames.push(frame);
  }
  return frames;
}

export interface SseConnection {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** All text received so far. */
  text(): string;
  /** Complete frames received so far. */
  frames(): SseFrame[];
  /** Events (frames with data) received so far. */
  events(): SseFrame[];
  /** Whether the server ended the response. */
  readonly ended: boolean;
  /** Waits until `check` holds on the frames, up to `ms`. */
  until(what: string, check: (frames: SseFrame[]) => boolean, ms?: number): Promise<SseFrame[]>;
  close(): void;
}

/** Opens `path` on the server as an SSE client over a real socket. */
export function openSse(
  base: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { headers: { accept: 'text/event-stream', ...headers } });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      let ended = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => {
        ended = true;
      });
      res.on('error', () => {});
      const frames = () => parseFrames(text.slice(0, text.lastIndexOf('\n\n') + 2));
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => text,
        frames,
        events: () => frames().filter((f) => f.data !== undefined),
        get ended() {
          return ended;
        },
        async until(what, check, ms = 5000) {
          await waitFor(what, () => check(frames()), ms);
          return frames();
        },
        close: () => req.destroy(),
      });
    });
    req.end();
  });
}

/** Waits until `check` holds, polling every 5 ms, up to `ms`; throws naming `what`. */
export async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The server's base URL once it listens on a free loopback port. */
export async function listenLocal(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}
