/** Shape ids: UUID v7 (RFC 9562), so ids sort by creation time and a cursor is simply the last id seen. */
import { randomBytes } from 'node:crypto';

let lastMs = 0;
let sequence = 0;

/**
 * A new id. Within one process, ids are strictly increasing: in the same millisecond a 12-bit sequence
 * (the `rand_a` field, as RFC 9562 §6.2 method 1 allows) counts up, and when it runs out the time is
 * borrowed from the next millisecond. Across processes, ids order by their creation time to the ms.
 */
export function newShapeId(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    lastMs++;
    sequence = 0;
  }
  const bytes = randomBytes(16);
  const ms = lastMs;
  bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
  bytes[2] = (ms >>> 24) & 0xff;
  bytes[3] = (ms >>> 16) & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | ((sequence >>> 8) & 0x0f);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
