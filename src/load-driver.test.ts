/** A missing driver package becomes an error that says what to install; other failures pass through. */
import { describe, expect, it } from 'vitest';
import * as keel from './index.ts';
import { QueueDriverMissingError } from './jobs/errors.ts';
import { DriverMissingError, loadDriver } from './load-driver.ts';
import { TransportDriverMissingError } from './transport/transport-errors.ts';

const transportMissing = (cause: unknown) =>
  new TransportDriverMissingError('nats', 'keel-no-such-driver', cause);

describe('loadDriver', () => {
  it('turns a missing package into TransportDriverMissingError naming the install command', async () => {
    const error = await loadDriver(
      ['keel-no-such-driver'],
      () => import('keel-no-such-driver' as string),
      transportMissing,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportDriverMissingError);
    expect(error).toBeInstanceOf(DriverMissingError);
    expect(error).toMatchObject({
      code: 'KEEL_TRANSPORT_DRIVER_MISSING',
      driver: 'keel-no-such-driver',
      packages: ['keel-no-such-driver'],
      name: 'TransportDriverMissingError',
    });
    expect((error as Error).message).toBe(
      'The nats:// transport needs the keel-no-such-driver package: npm install keel-no-such-driver',
    );
  });

  it('turns missing queue drivers into QueueDriverMissingError naming the packages', async () => {
    const missing = Object.assign(new Error("Cannot find package 'bullmq'"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const packages = ['bullmq', 'ioredis'];
    const error = await loadDriver(
      packages,
      () => Promise.reject(missing),
      (cause) => new QueueDriverMissingError('redis', packages, cause),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueDriverMissingError);
    expect(error).toBeInstanceOf(DriverMissingError);
    expect(error).toMatchObject({ code: 'KEEL_JOB_DRIVER_MISSING', cause: missing, retryable: false });
    // The name it is exported under is the name it reports, so logs and `instanceof` agree.
    expect(error).toMatchObject({ name: 'QueueDriverMissingError' });
    expect(keel.QueueDriverMissingError).toBe(QueueDriverMissingError);
    expect(keel.TransportDriverMissingError).toBe(TransportDriverMissingError);
    expect((error as Error).message).toBe(
      'Queues at redis:// URLs need the packages bullmq and ioredis; install them: npm install bullmq ioredis',
    );
  });

  it('lets other failures through unchanged', async () => {
    const failure = new Error('syntax error in the module');
    await expect(loadDriver(['x'], () => Promise.reject(failure), transportMissing)).rejects.toBe(failure);
    await expect(
      loadDriver(
        ['keel-no-such-driver'],
        () => import('keel-other-missing-module' as string),
        transportMissing,
      ),
    ).rejects.not.toBeInstanceOf(DriverMissingError);
  });

  it('returns the module when it loads', async () => {
    const mod = await loadDriver(['none'], () => import('./transport/subject.ts'), transportMissing);
    expect(typeof mod.subjectMatcher).toBe('function');
  });
});
