/** Loading an engine's folder lazily, so a program that never opens that engine never loads its driver. */
import { TransportDriverMissingError } from './transport-errors.ts';

/** Loads a driver folder; a missing driver package becomes an error that says what to install. */
export async function loadDriver<M>(scheme: string, driver: string, importer: () => Promise<M>): Promise<M> {
  try {
    return await importer();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(`'${driver}'`)) {
      throw new TransportDriverMissingError(scheme, driver, error);
    }
    throw error;
  }
}
