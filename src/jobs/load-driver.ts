/** Loads an optional driver module on first use, turning "package not installed" into a clear KeelError. */
import { QueueDriverMissingError } from './errors.ts';

export async function loadDriver<T>(
  scheme: string,
  packages: readonly string[],
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new QueueDriverMissingError(scheme, packages, error);
    }
    throw error;
  }
}
