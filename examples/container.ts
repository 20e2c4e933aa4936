/**
 * A small HTTP service wired by the container: a config singleton, a connection pool (an async singleton
 * with a disposer) and a scope per request. Ctrl-C disposes everything, newest first, and exits 0.
 * Run with `npm run example:container` (PORT=8080 to choose the port; by default any free one).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Container, shutdownOn, token } from '../src/index.ts';

interface Config {
  readonly port: number;
  readonly poolSize: number;
}

/** A stand-in for a database pool: opening takes a while, connections are lent out and given back. */
class Pool {
  readonly #free: number[];
  readonly size: number;

  private constructor(size: number) {
    this.size = size;
    this.#free = Array.from({ length: size }, (_, i) => i + 1);
  }

  static async open(size: number): Promise<Pool> {
    await sleep(50);
    console.log(`pool: opened ${size} connections`);
    return new Pool(size);
  }

  async query(sql: string): Promise<{ connection: number; sql: string }> {
    const connection = this.#free.pop();
    if (connection === undefined) throw new Error('pool exhausted');
    try {
      await sleep(5);
      return { connection, sql };
    } finally {
      this.#free.push(connection);
    }
  }

  async close(): Promise<void> {
    await sleep(20);
    console.log(`pool: closed ${this.size} connections`);
  }
}

/** What one request knows about itself; a new one per scope. */
class RequestInfo implements Disposable {
  readonly id: number;
  readonly path: string;
  constructor(id: number, path: string) {
    this.id = id;
    this.path = path;
  }
  [Symbol.dispose](): void {
    console.log(`request ${this.id}: scope disposed`);
  }
}

/** Handles one request with the request's own info and the shared pool. */
class UserHandler {
  readonly #request: RequestInfo;
  readonly #pool: Pool;
  constructor(request: RequestInfo, pool: Pool) {
    this.#request = request;
    this.#pool = pool;
  }
  async handle(): Promise<unknown> {
    const id = this.#request.path.split('/').at(-1) ?? '';
    const row = await this.#pool.query(`select * from users where id = ${Number(id) || 0}`);
    return { request: this.#request.id, ...row };
  }
}

const ConfigT = token<Config>('config');
const PoolT = token<Pool>('pool');
const RequestT = token<RequestInfo>('request');
const HandlerT = token<UserHandler>('handler');
const ServerT = token<Server>('server');

let requests = 0;

const container = new Container()
  .register(ConfigT, {
    lifetime: 'singleton',
    factory: () => ({ port: Number(process.env.PORT ?? 0), poolSize: 4 }),
  })
  .register(PoolT, {
    lifetime: 'singleton',
    factory: (r) => Pool.open(r.resolve(ConfigT).poolSize),
    dispose: (pool) => pool.close(),
  })
  .register(HandlerT, {
    lifetime: 'scoped',
    factory: async (r) => new UserHandler(r.resolve(RequestT), await r.resolveAsync(PoolT)),
  })
  .register(ServerT, {
    lifetime: 'singleton',
    factory: async (r) => {
      // The server needs the pool ready before it takes requests (and so is disposed before the pool).
      await r.resolveAsync(PoolT);
      const server = createServer(serve);
      await new Promise<void>((resolve) => server.listen(r.resolve(ConfigT).port, '127.0.0.1', resolve));
      return server;
    },
    dispose: (server) =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) return reject(error);
          console.log('server: closed');
          resolve();
        });
        server.closeAllConnections();
      }),
  });

async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
  // One scope per request: its RequestInfo and handler live exactly as long as the request. The request
  // itself is registered in the scope, where the root never sees it.
  await using scope = container
    .createScope()
    .register(RequestT, { lifetime: 'scoped', factory: () => new RequestInfo(++requests, req.url ?? '/') });
  try {
    const body = await (await scope.resolveAsync(HandlerT)).handle();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  } catch (error) {
    res.writeHead(500).end(String(error));
  }
}

shutdownOn(container, { timeoutMs: 5000 });

const server = await container.resolveAsync(ServerT);
const address = server.address();
const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
console.log(`listening on ${url} (Ctrl-C to stop)`);

// A few requests of our own, so there is something to see without a client.
for (const id of [1, 2, 3]) {
  const response = await fetch(`${url}/users/${id}`);
  console.log(`GET /users/${id} -> ${response.status} ${await response.text()}`);
}
