/** A missing driver package becomes an error that says what to install; other failures pass through. */
import { describe, expect, it } from 'vitest';
import { loadDriver } from './load-driver.ts';
import { TransportDriverMissingError } from './transport-errors.ts';

describe('loadDriver', () => {
  it('turns a missing package into TransportDriverMissingError naming the install command', async () => {
    const error = await loadDriver(
      'nats',
      'keel-no-such-driver',
      () => import('keel-no-such-driver' as string),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportDriverMissingError);
    expect(error).toMatchObject({ code: 'KEEL_TRANSPORT_DRIVER_MISSING', driver: 'keel-no-such-driver' });
    expect((error as Error).message).toBe(
      'The nats:// transport needs the keel-no-such-driver package: npm install keel-no-such-driver',
    );
  });

  it('lets other failures through unchanged', async () => {
    const failure = new Error('syntax error in the module');
    await expect(loadDriver('nats', 'x', () => Promise.reject(failure))).rejects.toBe(failure);
    await expect(
      loadDriver('nats', 'keel-no-such-driver', () => import('keel-other-missing-module' as string)),
    ).rejects.not.toBeInstanceOf(TransportDriverMissingError);
  });

  it('returns the module when it loads', async () => {
    const mod = await loadDriver('memory', 'none', () => import('./subject.ts'));
    expect(typeof mod.subjectMatcher).toBe('function');
  });
});
