/** Loads an optional driver on first use, so a program that never opens an engine never loads its driver. */
import { KeelError, type KeelErrorCode } from './errors.ts';

/**
 * The base of the errors that say a driver package is missing (`TransportDriverMissingError`,
 * `QueueDriverMissingError`): catch this one to handle both.
 */
export class DriverMissingError extends KeelError {
  /** The packages to install, as `npm install` takes them. */
  readonly packages: readonly string[];

  constructor(code: KeelErrorCode, message: string, packages: readonly string[], cause: unknown) {
    super(code, message, { cause });
    this.packages = packages;
  }
}

/**
 * Runs `importer`; when it fails because one of `packages` is not installed, throws what `missing` builds
 * instead. Any other failure (a missing module of our own, a syntax error) passes through unchanged.
 */
export async function loadDriver<M>(
  packages: readonly string[],
  importer: () => Promise<M>,
  missing: (cause: unknown) => DriverMissingError,
): Promise<M> {
  try {
    return await importer();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const message = String((error as { message?: unknown } | null)?.message);
    if (code === 'ERR_MODULE_NOT_FOUND' && packages.some((name) => message.includes(`'${name}'`))) {
      throw missing(error);
    }
    throw error;
  }
}
