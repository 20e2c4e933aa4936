/** The app's errors: KeelError subclasses whose codes tell the gateway the HTTP meaning (404, 409, 400). */
import { KeelError } from 'keel';

/** No shape has this id (never created, or deleted). The gateway answers 404. */
export class ShapeNotFoundError extends KeelError {
  readonly data: { readonly id: string; readonly status: 404 };

  constructor(id: string) {
    super('KEEL_SHAPE_NOT_FOUND', `No shape has the id ${JSON.stringify(id)}`);
    this.data = { id, status: 404 };
  }
}

/** A shape with this id is already stored (an id generated twice, which the repository refuses). */
export class ShapeConflictError extends KeelError {
  readonly data: { readonly id: string; readonly status: 409 };

  constructor(id: string) {
    super('KEEL_SHAPE_CONFLICT', `A shape with the id ${JSON.stringify(id)} is already stored`);
    this.data = { id, status: 409 };
  }
}

/** No render job has this id (never started, or no longer kept by the queue). The gateway answers 404. */
export class RenderNotFoundError extends KeelError {
  readonly data: { readonly id: string; readonly status: 404 };

  constructor(id: string) {
    super('KEEL_RENDER_NOT_FOUND', `No render has the id ${JSON.stringify(id)}`);
    this.data = { id, status: 404 };
  }
}

/** The render's sheet was asked for before the job completed (or after it failed). The gateway answers 409. */
export class RenderConflictError extends KeelError {
  readonly data: { readonly id: string; readonly state: string; readonly status: 409 };

  constructor(id: string, state: string) {
    super(
      'KEEL_RENDER_CONFLICT',
      state === 'failed'
        ? `Render ${JSON.stringify(id)} failed; it has no sheet`
        : `Render ${JSON.stringify(id)} is ${state}; its sheet is ready once it completes`,
    );
    this.data = { id, state, status: 409 };
  }
}

/** The environment holds a value the app cannot start with; the message names the variable. */
export class ConfigError extends KeelError {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('KEEL_SHAPES_CONFIG', `${variable}: ${message}`);
    this.variable = variable;
  }
}

/** The shapes repository was used after close (the process is stopping). Retryable: another instance may serve. */
export class StorageClosedError extends KeelError {
  constructor() {
    super('KEEL_SHAPES_STORAGE_CLOSED', 'The shapes repository is closed', { retryable: true });
  }
}

/**
 * The database did not answer (restarting, unreachable, or too slow). Retryable: the gateway answers 503
 * with `Retry-After`, and the request may succeed on a retry once the database is back.
 */
export class StorageUnavailableError extends KeelError {
  readonly data: { readonly status: 503; readonly retryAfterMs: number };

  constructor(cause: unknown, message = 'The shapes database is unavailable; try again shortly') {
    super('KEEL_SHAPES_STORAGE_UNAVAILABLE', message, {
      retryable: true,
      cause,
    });
    this.data = { status: 503, retryAfterMs: 1000 };
  }
}
