/** A client of HAProxy's runtime API socket: one command per connection, its answer as text. */
import { connect } from 'node:net';

/** Sends `command` to the admin socket at `path`; resolves with HAProxy's answer. Bounded by `timeoutMs`. */
export function haproxyCommand(path: string, command: string, timeoutMs = 2000): Promise<string> {
  if (/[\r\n;]/.test(command))
    return Promise.reject(new TypeError(`one HAProxy command without ; or newlines; received ${command}`));
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`HAProxy did not answer "${command}" within ${timeoutMs} ms`));
    });
    socket.once('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.once('end', () => resolve(answer));
    socket.once('error', reject);
  });
}

export interface ServerStatus {
  readonly name: string;
  /** `UP`, `DOWN`, `DRAIN`, `MAINT`, `UP 1/2`... as HAProxy's stats say. */
  readonly status: string;
  readonly weight: number;
}

/** The state of every server of `backend`, from `show stat` (CSV). */
export async function serverStatuses(path: string, backend: string): Promise<ServerStatus[]> {
  const csv = await haproxyCommand(path, 'show stat');
  const lines = csv.split('\n').filter((line) => line.length > 0);
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const col = (name: string) => header.indexOf(name);
  const [px, sv, status, weight] = [col('pxname'), col('svname'), col('status'), col('weight')];
  const out: ServerStatus[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[px] !== backend || f[sv] === 'BACKEND' || f[sv] === 'FRONTEND') continue;
    out.push({ name: f[sv] ?? '', status: f[status] ?? '', weight: Number(f[weight] ?? 0) });
  }
  return out;
}
