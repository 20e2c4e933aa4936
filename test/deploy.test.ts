/** The stack's command line and its HAProxy configuration (checked by HAProxy itself). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { haproxyConfig } from '../deploy/haproxy.ts';
import { parseStackArgs, StackUsageError } from '../deploy/stack-args.ts';
import { findBinary } from '../scripts/engines.ts';

const dir = mkdtempSync(join(tmpdir(), 'keel-deploy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run stack arguments', () => {
  it('defaults to 2 gateways, 2 services, 2 workers on 8080 over 3 NATS nodes, and reads each flag', () => {
    expect(parseStackArgs([])).toEqual({
      command: 'up',
      gateways: 2,
      services: 2,
      workers: 2,
      port: 8080,
      natsNodes: 3,
      runDir: 'run',
      quiet: false,
    });
    expect(
      parseStackArgs(['--gateways', '3', '--services', '1', '--workers', '4', '--port', '0', '--quiet']),
    ).toMatchObject({ gateways: 3, services: 1, workers: 4, port: 0, quiet: true });
    expect(parseStackArgs(['restart', 'gateways'])).toMatchObject({ command: 'restart', role: 'gateways' });
    expect(parseStackArgs(['status'])).toMatchObject({ command: 'status' });
  });

  it('refuses a bad count, an unknown flag or role, naming it, with the usage', () => {
    for (const [argv, message] of [
      [['--gateways', '0'], /--gateways takes an integer in 1\.\.32; received 0/],
      [['--port', '70000'], /--port takes an integer in 0\.\.65535/],
      [['--workers'], /--workers takes an integer in 1\.\.32; received nothing/],
      [['--colour'], /unknown argument --colour/],
      [['restart', 'databases'], /restart takes one of gateways, services, workers; received databases/],
    ] as const) {
      expect(() => parseStackArgs(argv)).toThrow(StackUsageError);
      expect(() => parseStackArgs(argv)).toThrow(message);
      expect(() => parseStackArgs(argv)).toThrow(/usage:/);
    }
  });
});

describe('the HAProxy configuration', () => {
  const gateways = [
    { name: 'gw1', port: 3001, agentPort: 4001 },
    { name: 'gw2', port: 3002, agentPort: 4002 },
  ];

  it('is accepted by haproxy -c, with checks, agent checks, retries and the POST rule', () => {
    const text = haproxyConfig({ port: 8080, adminSocket: join(dir, 'admin.sock'), gateways });
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, text);
    const haproxy = findBinary('haproxy');
    if (haproxy === undefined) throw new Error('haproxy not found: install the Debian package haproxy');
    execFileSync(haproxy, ['-c', '-q', '-f', file]);
    expect(text).toContain('balance leastconn');
    expect(text).toContain('http-check send meth GET uri /health/ready');
    expect(text).toContain('default-server inter 1000 fall 2 rise 2 weight 100');
    expect(text).toContain('server gw1 127.0.0.1:3001 check agent-check agent-port 4001 agent-inter 1000');
    expect(text).toContain('option redispatch 1');
    expect(text).toContain('retry-on conn-failure empty-response response-timeout');
    expect(text).toContain(
      'http-request disable-l7-retry if METH_POST !{ req.hdr(idempotency-key) -m found }',
    );
    // Event streams have a backend of their own over the same gateways.
    expect(text).toContain('use_backend events if { path /api/events }');
    expect(text.match(/server gw2 /g)).toHaveLength(2);
  });

  it('refuses a shape it cannot express, naming the field', () => {
    const adminSocket = join(dir, 'a.sock');
    expect(() => haproxyConfig({ port: 8080, adminSocket, gateways: [] })).toThrow(/at least one gateway/);
    expect(() => haproxyConfig({ port: 0, adminSocket, gateways })).toThrow(/port must be an integer/);
    expect(() =>
      haproxyConfig({ port: 8080, adminSocket, gateways: [gateways[0] as never, gateways[0] as never] }),
    ).toThrow(/gateways\[1\]\.name must be a unique name/);
    expect(() => haproxyConfig({ port: 8080, adminSocket: '/tmp/a b', gateways })).toThrow(/adminSocket/);
    expect(() => haproxyConfig({ port: 8080, adminSocket, gateways, checkIntervalMs: 10 })).toThrow(
      /checkIntervalMs must be an integer in 100\.\.3600000/,
    );
  });
});
