/**
 * The live page, served by the gateway at `/`: the HTML, its stylesheet and the scripts the project's
 * build compiles from apps/shapes/web/src (`npm run build:web`, also run by `npm ci`). Files are read
 * once at start and served from memory under a fixed list of names, so no request reaches the disk.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';

const web = join(import.meta.dirname, 'web');

/** The page loads its own scripts, styles and SVGs, and talks to this origin only. */
const pageCsp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  assets.set('/', { type: 'text/html; charset=utf-8', body: readFileSync(join(web, 'index.html')) });
  assets.set('/app/styles.css', {
    type: 'text/css; charset=utf-8',
    body: readFileSync(join(web, 'styles.css')),
  });
  let scripts: string[];
  try {
    scripts = readdirSync(join(web, 'dist')).filter((f) => f.endsWith('.js'));
  } catch {
    throw new Error('the live page is not built: run npm run build:web (npm ci does it)');
  }
  for (const file of scripts) {
    assets.set(`/app/${file}`, {
      type: 'text/javascript; charset=utf-8',
      body: readFileSync(join(web, 'dist', file)),
    });
  }
  return assets;
}

/** Registers `/` and `/app/*` on the gateway. */
export function registerPage(app: FastifyInstance): void {
  const assets = loadAssets();
  for (const [path, asset] of assets) {
    app.get(path, async (_request, reply) => {
      reply.header('content-security-policy', pageCsp);
      reply.header('cache-control', 'no-cache');
      reply.type(asset.type);
      return asset.body;
    });
  }
}
