import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';

// The guide's examples are programs a reader copies: this one must run as written, importing from 'keel'.
const guide = readFileSync(join(import.meta.dirname, '../../docs/concurrency.md'), 'utf8');
const index = join(import.meta.dirname, '../index.ts');

/** The first TypeScript block under a heading of the guide. */
function example(heading: string): string {
  const section = guide.slice(guide.indexOf(`\n## ${heading}\n`));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (block === null) throw new Error(`no example under "## ${heading}"`);
  return block[1] as string;
}

let server: Server;
let api: string;
const audited: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'keel-docs-'));

beforeAll(async () => {
  server = createServer((request, response) => {
    const send = (body: unknown) =>
      response.setHeader('content-type', 'application/json').end(JSON.stringify(body));
    if (request.url === '/users/7') send({ id: '7', name: 'Ada' });
    else if (request.url === '/users/7/orders') send([{ id: 'o1', total: 12 }]);
    else if (request.url === '/audit' && request.method === 'POST') {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        audited.push(body);
        response.end();
      });
    } else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

it('the TaskGroup example in docs/concurrency.md runs as written', async () => {
  const source = example('TaskGroup');
  expect(source).toContain("from 'keel'");
  const file = join(dir, 'task-group-example.ts');
  writeFileSync(file, source.replace("from 'keel'", `from ${JSON.stringify(pathToFileURL(index).href)}`));
  const { loadProfile } = (await import(pathToFileURL(file).href)) as {
    loadProfile: (api: string, id: string, signal?: AbortSignal) => Promise<unknown>;
  };
  await expect(loadProfile(api, '7')).resolves.toEqual({
    user: { id: '7', name: 'Ada' },
    orders: [{ id: 'o1', total: 12 }],
  });
  // The group waited for the audit it spawned before resolving.
  expect(audited).toEqual(['7']);
  // A failing fetch fails the group with an AggregateError naming it.
  await expect(loadProfile(api, 'missing')).rejects.toThrow(AggregateError);
});
