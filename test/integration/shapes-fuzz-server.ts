/**
 * The fuzz test's server: the whole backend (role all) in a process of its own, so the heap it reports
 * is the server's alone. `process.send` tells the parent its URL; a `heap` message is answered with the
 * heap used after full collections (it runs with --expose-gc); a `snapshot` message writes a heap
 * snapshot to the path given and answers with it.
 */
import { writeHeapSnapshot } from 'node:v8';
import { startApp } from '../../apps/shapes/app.ts';
import { readConfig } from '../../apps/shapes/config.ts';
import { silentLog } from '../../apps/shapes/log.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined || process.send === undefined)
  throw new Error('run with --expose-gc and an IPC channel');
const [databaseUrl = 'memory://'] = process.argv.slice(2);

const app = await startApp(readConfig({ PORT: '0', DATABASE_URL: databaseUrl, DRAIN_DELAY_MS: '0' }, []), {
  log: silentLog,
  logger: false,
});
process.send({ url: app.url });

process.on(
  'message',
  async (message: { kind: 'heap' } | { kind: 'snapshot'; path: string } | { kind: 'stop' }) => {
    if (message.kind === 'heap') {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      process.send?.({ heapUsed: process.memoryUsage().heapUsed });
    } else if (message.kind === 'snapshot') {
      process.send?.({ path: writeHeapSnapshot(message.path) });
    } else {
      await app.stop({ timeoutMs: 5000 });
      process.disconnect();
    }
  },
);
