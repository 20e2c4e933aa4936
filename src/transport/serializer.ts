/** Payload serializers: how a Transport turns values into bytes and back (JSON unless told otherwise). */

/** Turns payloads into bytes and back. `decode` throws on bytes it cannot read. */
export interface Serializer {
  /** A short name for error messages (`json`, `msgpack`, ...). */
  readonly name: string;
  encode(value: unknown): Uint8Array;
  decode(data: Uint8Array): unknown;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const empty = new Uint8Array(0);

/**
 * JSON as UTF-8. `undefined` travels as zero bytes and comes back as `undefined`, so a handler that
 * returns nothing sends an empty reply. Values JSON cannot hold (BigInt, cycles) fail to encode.
 * Encodes with `Buffer.from`, which cuts small messages from a shared pool: several times cheaper than
 * `TextEncoder.encode`, which allocates a fresh backing store for every message.
 */
export const jsonSerializer: Serializer = {
  name: 'json',
  encode(value) {
    if (value === undefined) return empty;
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`JSON cannot represent a ${typeof value}`);
    return Buffer.from(text, 'utf8');
  },
  decode(data) {
    if (data.byteLength === 0) return undefined;
    return JSON.parse(decoder.decode(data));
  },
};
