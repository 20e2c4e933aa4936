import { describe, expect, it } from 'vitest';
import * as keel from '../index.ts';
import { QueueDriverMissingError } from './errors.ts';
import { loadDriver } from './load-driver.ts';

describe('loadDriver', () => {
  it('says which packages to install when the driver is not there', async () => {
    const missing = Object.assign(new Error("Cannot find package 'bullmq'"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const error = await loadDriver('redis', ['bullmq', 'ioredis'], () => Promise.reject(missing)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(QueueDriverMissingError);
    expect(error).toMatchObject({ code: 'KEEL_JOB_DRIVER_MISSING', cause: missing, retryable: false });
    // The name it is exported under is the name it reports, so logs and `instanceof` agree.
    expect(error).toMatchObject({ name: 'QueueDriverMissingError' });
    expect(keel.QueueDriverMissingError).toBe(QueueDriverMissingError);
    expect((error as Error).message).toBe(
      'Queues at redis:// URLs need the packages bullmq and ioredis; install them: npm install bullmq ioredis',
    );
  });

  it('passes any other failure through unchanged, and the module when it loads', async () => {
    const broken = new SyntaxError('bad module');
    await expect(loadDriver('redis', ['bullmq'], () => Promise.reject(broken))).rejects.toBe(broken);
    await expect(loadDriver('redis', ['bullmq'], async () => ({ ok: 1 }))).resolves.toEqual({ ok: 1 });
  });
});
