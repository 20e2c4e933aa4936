/**
 * Idempotency keys (the IETF httpapi draft): where a POST's first response is kept, so a repeat gets it
 * back. A store claims a key while the first request runs, then holds its response for the window.
 */
import { randomUUID } from 'node:crypto';
import { checkCount, checkOptions, describe, InvalidArgumentError } from '../errors.ts';

/** The parts of a response a repeat gets back. */
export interface StoredResponse {
  readonly status: number;
  /** The headers that matter to a client (content-type, location, etag, ...), lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body as sent. */
  readonly body: string;
}

/** What a store knows of a key someone already claimed. */
export type IdempotencyRecord =
  | { readonly state: 'running'; readonly fingerprint: string }
  | { readonly state: 'done'; readonly fingerprint: string; readonly response: StoredResponse };

/** A claim on a key: the caller runs the request, then completes or releases it with this token. */
export interface IdempotencyClaim {
  readonly token: string;
  readonly fingerprint: string;
}

/**
 * Where keys live: in process (`MemoryIdempotencyStore`) for one gateway, in Redis
 * (`RedisIdempotencyStore`) when several gateways must answer a repeat the same way.
 */
export interface IdempotencyStore {
  /**
   * Claims `key` for `leaseMs` when nobody holds it (resolves `{ token }`), or resolves what the holder
   * left: a request still running, or its response.
   */
  begin(key: string, fingerprint: string, leaseMs: number): Promise<IdempotencyClaim | IdempotencyRecord>;
  /** Keeps `response` under `key` for `ttlMs`, if the claim is still this one's. */
  complete(key: string, claim: IdempotencyClaim, response: StoredResponse, ttlMs: number): Promise<void>;
  /** Gives the key up (the request failed in a way worth retrying), if the claim is still this one's. */
  release(key: string, claim: IdempotencyClaim): Promise<void>;
}

export interface MemoryIdempotencyStoreOptions {
  /** The most keys held; past it the oldest is forgotten first. @default 10000 */
  readonly maxKeys?: number | undefined;
}

interface MemoryEntry {
  readonly token: string;
  readonly fingerprint: string;
  readonly response: StoredResponse | undefined;
  readonly expires: number;
}

/** Keys in this process: bounded (oldest forgotten first), each expiring at its own time; no timers. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly maxKeys: number;
  readonly #entries = new Map<string, MemoryEntry>();

  constructor(options?: MemoryIdempotencyStoreOptions) {
    checkOptions('MemoryIdempotencyStore options', options, ['maxKeys']);
    this.maxKeys = checkCount('MemoryIdempotencyStore maxKeys', options?.maxKeys ?? 10_000);
  }

  /** How many keys are held (expired ones included until they are next looked at). */
  get size(): number {
    return this.#entries.size;
  }

  async begin(
    key: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<IdempotencyClaim | IdempotencyRecord> {
    const now = Date.now();
    const held = this.#entries.get(key);
    if (held !== undefined && held.expires > now) {
      return held.response === undefined
        ? { state: 'running', fingerprint: held.fingerprint }
        : { state: 'done', fingerprint: held.fingerprint, response: held.response };
    }
    if (held !== undefined) this.#entries.delete(key);
    this.#makeRoom(now);
    const token = randomUUID();
    this.#entries.set(key, { token, fingerprint, response: undefined, expires: now + leaseMs });
    return { token, fingerprint };
  }

  async complete(
    key: string,
    claim: IdempotencyClaim,
    response: StoredResponse,
    ttlMs: number,
  ): Promise<void> {
    const held = this.#entries.get(key);
    if (held?.token !== claim.token) return;
    // Re-inserted, so the Map's order stays the order in which entries expire soonest-first (roughly).
    this.#entries.delete(key);
    this.#entries.set(key, { ...held, response, expires: Date.now() + ttlMs });
  }

  async release(key: string, claim: IdempotencyClaim): Promise<void> {
    if (this.#entries.get(key)?.token === claim.token) this.#entries.delete(key);
  }

  /** At the bound: drop what has expired, then the oldest entries, until one fits. */
  #makeRoom(now: number): void {
    if (this.#entries.size < this.maxKeys) return;
    for (const [key, entry] of this.#entries) if (entry.expires <= now) this.#entries.delete(key);
    for (const key of this.#entries.keys()) {
      if (this.#entries.size < this.maxKeys) break;
      this.#entries.delete(key);
    }
  }
}

/** The one command ioredis (or any client with `call`) must offer: `call('SET', ...)`. */
export interface RedisCommander {
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
}

export interface RedisIdempotencyStoreOptions {
  /** A connected client (ioredis `new Redis(url)`); the store never closes it. */
  readonly redis: RedisCommander;
  /** Prepended to every key. @default 'keel:idem:' */
  readonly prefix?: string | undefined;
}

/** Compare-and-set: replaces (or deletes, with no value) the key only while it holds the claim. */
const swapScript = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, held = pcall(cjson.decode, current)
if not ok or held.token ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
`;

/**
 * Keys in Redis, shared by every gateway that uses the same server and prefix: a claim is `SET NX PX`,
 * the response replaces it with `PX ttlMs`, and only the claim's holder may do either (checked in a script).
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  readonly prefix: string;
  readonly #redis: RedisCommander;

  constructor(options: RedisIdempotencyStoreOptions) {
    checkOptions('RedisIdempotencyStore options', options, ['redis', 'prefix']);
    if (typeof (options?.redis as { call?: unknown } | undefined)?.call !== 'function') {
      throw new InvalidArgumentError(
        `RedisIdempotencyStore redis must be a Redis client with call() (ioredis); received ${describe(options?.redis)}`,
      );
    }
    const prefix = options.prefix ?? 'keel:idem:';
    if (typeof prefix !== 'string') {
      throw new InvalidArgumentError(
        `RedisIdempotencyStore prefix must be a string; received ${describe(prefix)}`,
      );
    }
    this.#redis = options.redis;
    this.prefix = prefix;
  }

  async begin(
    key: string,
    fingerprint: string,
    leaseMs: number,
  ): Promise<IdempotencyClaim | IdempotencyRecord> {
    const name = this.prefix + key;
    // The key may expire between a refused SET and the GET; then claim again (twice is plenty).
    for (let attempt = 0; attempt < 3; attempt++) {
      const token = randomUUID();
      const value = JSON.stringify({ token, fingerprint });
      const set = await this.#redis.call('SET', name, value, 'NX', 'PX', Math.max(1, Math.ceil(leaseMs)));
      if (set === 'OK') return { token, fingerprint };
      const held = await this.#redis.call('GET', name);
      if (held === null || held === undefined) continue;
      const record = JSON.parse(String(held)) as { fingerprint: string; response?: StoredResponse };
      return record.response === undefined
        ? { state: 'running', fingerprint: record.fingerprint }
        : { state: 'done', fingerprint: record.fingerprint, response: record.response };
    }
    // Someone keeps claiming and giving it up: as good as running, so the client retries later.
    return { state: 'running', fingerprint };
  }

  async complete(
    key: string,
    claim: IdempotencyClaim,
    response: StoredResponse,
    ttlMs: number,
  ): Promise<void> {
    const value = JSON.stringify({ token: claim.token, fingerprint: claim.fingerprint, response });
    await this.#redis.call('EVAL', swapScript, 1, this.prefix + key, claim.token, value, Math.ceil(ttlMs));
  }

  async release(key: string, claim: IdempotencyClaim): Promise<void> {
    await this.#redis.call('EVAL', swapScript, 1, this.prefix + key, claim.token, '', 0);
  }
}
