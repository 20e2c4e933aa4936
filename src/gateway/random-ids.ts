/** Random ids for requests and traces, drawn from the system's random source 64 KiB at a time. */
import { randomFillSync } from 'node:crypto';

/**
 * One draw from the system serves about 1,600 requests (a request id and a trace take 40 bytes). On a
 * virtual machine that draw is a costly system call; `randomUUID`'s own cache makes it every 128 ids.
 */
const pool = Buffer.alloc(65_536);
let at = pool.length;

/** `bytes` random bytes (at most the pool's size) as lowercase hex. */
export function randomHex(bytes: number): string {
  if (at + bytes > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  const hex = pool.toString('hex', at, at + bytes);
  at += bytes;
  return hex;
}

const variants = '89ab';

/** A random UUID (version 4, RFC 9562), as `crypto.randomUUID()` makes them. */
export function randomRequestId(): string {
  return uuidOf(randomHex(16));
}

/** The UUID version 4 made of 32 random hex digits (six of their bits give way to the version and variant). */
export function uuidOf(h: string): string {
  const variant = variants[Number.parseInt(h.charAt(16), 16) & 3] as string;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
