/**
 * The "web process" of the listener benchmark: `node bench/jobs-listener.ts REDIS_URL QUEUE` listens to the
 * queue's `completed` events, which come from workers in another process, and prints "ready" once it hears
 * them; it exits when its parent closes stdin, printing how many events it heard.
 */
import { once } from 'node:events';
import { openQueue } from '../src/jobs/index.ts';

const [url, name] = process.argv.slice(2) as [string, string];
const queue = await openQueue(url, name);
let heard = 0;
queue.on('completed', () => {
  heard++;
});
// A job of its own shows the event stream is open: result() resolves from the stream (or the stored state).
await queue.result(await queue.add('probe', null), { timeoutMs: 30_000 });
process.stdout.write('ready\n');
process.stdin.resume();
await once(process.stdin, 'end');
process.stdout.write(`heard ${heard}\n`);
await queue.close({ timeoutMs: 1000 });
