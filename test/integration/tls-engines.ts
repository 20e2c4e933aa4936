/**
 * Engines that speak TLS for the production-connection tests: a throwaway CA made with openssl, a server
 * certificate for 127.0.0.1 signed by it, a client certificate, and redis-server / nats-server started with
 * them (through scripts/engines.ts: free loopback ports, stopped and waited for, temp dirs removed).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Engine, findBinary, freePort, startNats, startRedis } from '../../scripts/engines.ts';

/** A certificate and its key: PEM text, and the files the servers read. */
export interface Pair {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** A throwaway public-key infrastructure in a temporary directory; `remove()` deletes it. */
export interface TestPki {
  readonly dir: string;
  /** The CA the servers' and the client's certificates are signed by (PEM). */
  readonly ca: string;
  readonly caFile: string;
  /** The server's certificate, valid for IP 127.0.0.1 and DNS localhost. */
  readonly server: Pair;
  /** A client certificate signed by the same CA (for servers that verify clients). */
  readonly client: Pair;
  /** Another CA: trusting only it, no server here verifies. */
  readonly otherCa: string;
  /** A client certificate signed by the other CA, which no server here trusts. */
  readonly strangerClient: Pair;
  remove(): void;
}

function openssl(dir: string, args: readonly string[]): void {
  const binary = findBinary('openssl');
  if (binary === undefined) throw new Error('openssl not found on PATH; install: openssl');
  execFileSync(binary, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

function selfSignedCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
  ]);
}

/** A key and a certificate signed by the CA `ca` with the given X.509 v3 extensions. */
function signed(dir: string, name: string, subject: string, extensions: string, ca = 'keel-test-ca'): Pair {
  openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  ]);
  writeFileSync(join(dir, `${name}.ext`), `${extensions}\n`);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  ]);
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

/** Makes a CA, a server certificate for 127.0.0.1, a client certificate, and an unrelated CA. */
export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'keel-pki-'));
  try {
    selfSignedCa(dir, 'keel-test-ca');
    selfSignedCa(dir, 'keel-other-ca');
    const server = signed(
      dir,
      'server',
      '/CN=127.0.0.1',
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth',
    );
    const client = signed(dir, 'client', '/CN=keel-client', 'extendedKeyUsage=clientAuth');
    const strangerClient = signed(
      dir,
      'stranger',
      '/CN=keel-stranger',
      'extendedKeyUsage=clientAuth',
      'keel-other-ca',
    );
    const caFile = join(dir, 'keel-test-ca.pem');
    return {
      dir,
      ca: readFileSync(caFile, 'utf8'),
      caFile,
      server,
      client,
      strangerClient,
      otherCa: readFileSync(join(dir, 'keel-other-ca.pem'), 'utf8'),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A running engine with a TLS port; `url` is the TLS one. */
export interface TlsEngine {
  readonly engine: Engine;
  /** `rediss://127.0.0.1:TLSPORT` or `tls://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * A redis-server that serves TLS on its own port (besides a plain one, which only the readiness probe
 * uses). `verifyClients` makes it demand a client certificate signed by the test CA.
 */
export async function startTlsRedis(
  pki: TestPki,
  options: { readonly verifyClients?: boolean; readonly args?: readonly string[] } = {},
): Promise<TlsEngine> {
  const port = await freePort();
  const engine = await startRedis({
    args: [
      '--tls-port',
      String(port),
      '--tls-cert-file',
      pki.server.certFile,
      '--tls-key-file',
      pki.server.keyFile,
      '--tls-ca-cert-file',
      pki.caFile,
      '--tls-auth-clients',
      options.verifyClients ? 'yes' : 'no',
      ...(options.args ?? []),
    ],
  });
  return { engine, url: `rediss://127.0.0.1:${port}`, port, stop: () => engine.stop() };
}

/**
 * A nats-server that requires TLS of every client (its monitor port, which the readiness probe uses,
 * stays plain). `verifyClients` makes it demand a client certificate signed by the test CA.
 */
export async function startTlsNats(
  pki: TestPki,
  options: { readonly verifyClients?: boolean; readonly args?: readonly string[] } = {},
): Promise<TlsEngine> {
  const engine = await startNats({
    args: [
      '--tls',
      '--tlscert',
      pki.server.certFile,
      '--tlskey',
      pki.server.keyFile,
      ...(options.verifyClients ? ['--tlsverify', '--tlscacert', pki.caFile] : []),
      ...(options.args ?? []),
    ],
  });
  return {
    engine,
    url: `tls://127.0.0.1:${engine.port}`,
    port: engine.port,
    stop: () => engine.stop(),
  };
}
