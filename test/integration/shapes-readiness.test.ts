import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, startNats, startRedis } from '../../scripts/engines.ts';
import { type RoleProcess, request, startRole, tempDir, until } from './shapes-harness.ts';

// Engines of its own: this file stops and starts them, which must not disturb other test files.
let nats: Engine;
let redis: Engine;
const roles: RoleProcess[] = [];
const dir = tempDir('readiness');

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNats(), startRedis()]);
  const env = { TRANSPORT_URL: nats.url, QUEUE_URL: redis.url, DATABASE_URL: `sqlite:${dir.path}/shapes.db` };
  roles.push(
    ...(await Promise.all([
      startRole('gateway', { ...env, INSTANCE_ID: 'gw-r' }),
      startRole('shapes', { ...env, INSTANCE_ID: 'shapes-r' }),
      startRole('renderer', { ...env, INSTANCE_ID: 'renderer-r' }),
    ])),
  );
}, 60_000);

afterAll(async () => {
  for (const role of roles) await role.stop();
  await Promise.all([nats?.stop(), redis?.stop()]);
  dir.remove();
}, 60_000);

const ready = async (role: RoleProcess): Promise<{ status: number; body: unknown }> => {
  const answer = await request(role.url, '/health/ready', { timeoutMs: 5000 });
  return { status: answer.status, body: answer.json };
};
const byRole = (name: string): RoleProcess => roles.find((r) => r.role === name) as RoleProcess;

describe('each role is ready only while its dependencies answer', () => {
  it('all three are ready with NATS and Redis up, naming their checks', async () => {
    for (const role of roles) await until(async () => (await ready(role)).status === 200, 15_000);
    expect(JSON.stringify((await ready(byRole('shapes'))).body)).toMatch(/database/);
    expect(JSON.stringify((await ready(byRole('renderer'))).body)).toMatch(/queue/);
    for (const role of roles) expect(JSON.stringify((await ready(role)).body)).toMatch(/transport/);
  });

  it('NATS killed → every role 503 naming transport; NATS back → every role 200 again', async () => {
    await nats.kill();
    for (const role of roles) {
      await until(async () => (await ready(role)).status === 503, 15_000);
      expect(JSON.stringify((await ready(role)).body)).toMatch(/transport/);
    }
    await nats.start();
    for (const role of roles) await until(async () => (await ready(role)).status === 200, 30_000);
    // And the API works again end to end.
    await until(
      async () =>
        (await request(byRole('gateway').url, '/api/shapes', { body: { kind: 'circle', radius: 1 } }))
          .status === 201,
      15_000,
    );
  }, 90_000);

  it('Redis killed → the renderer (queue) and the gateway (idempotency keys) 503, shapes stays ready; back → 200', async () => {
    await redis.kill();
    await until(async () => (await ready(byRole('renderer'))).status === 503, 15_000);
    expect(JSON.stringify((await ready(byRole('renderer'))).body)).toMatch(/queue/);
    await until(async () => (await ready(byRole('gateway'))).status === 503, 15_000);
    expect((await ready(byRole('shapes'))).status).toBe(200);
    await redis.start();
    for (const role of roles) await until(async () => (await ready(role)).status === 200, 30_000);
  }, 90_000);

  it('each role stopped with SIGTERM drains, closes its parts and exits 0', async () => {
    const codes: Record<string, number | null> = {};
    // The gateway first, as a load balancer would stop sending to it; then the services.
    for (const name of ['gateway', 'shapes', 'renderer']) codes[name] = await byRole(name).stop();
    expect(codes).toEqual({ gateway: 0, shapes: 0, renderer: 0 });
  }, 60_000);
});
