/** Argument checks for the container's public methods: each names the option, what it allows and what came. */
import { checkFunction, describe, InvalidArgumentError } from '../errors.ts';
import { type Kind, SCOPED, SINGLETON, TRANSIENT } from './slot.ts';
import { Token } from './token.ts';

const kinds = new Map<unknown, Kind>([
  ['singleton', SINGLETON],
  ['scoped', SCOPED],
  ['transient', TRANSIENT],
]);

/** What `register()` was asked, checked: the provider's lifetime and whether replacing was asked for. */
export interface Registration {
  readonly kind: Kind;
  readonly replace: boolean;
}

/** Checks `register()`'s arguments. */
export function checkRegistration(token: unknown, provider: unknown, options: unknown): Registration {
  checkToken('register()', token);
  const kind = checkProvider(token.name, provider);
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`register() options must be an object; received ${describe(options)}`);
  }
  const { replace = false } = options as { replace?: unknown };
  if (typeof replace !== 'boolean') {
    throw new InvalidArgumentError(`register() replace must be a boolean; received ${describe(replace)}`);
  }
  return { kind, replace };
}

function checkProvider(name: string, provider: unknown): Kind {
  if (provider === null || typeof provider !== 'object') {
    throw new InvalidArgumentError(
      `register() provider for ${describe(name)} must be an object; received ${describe(provider)}`,
    );
  }
  const { lifetime, factory, dispose } = provider as Record<string, unknown>;
  const kind = kinds.get(lifetime);
  if (kind === undefined) {
    throw new InvalidArgumentError(
      `register() lifetime for ${describe(name)} must be 'singleton', 'scoped' or 'transient'; ` +
        `received ${describe(lifetime)}`,
    );
  }
  checkFunction(`register() factory for ${describe(name)}`, factory);
  if (dispose !== undefined) checkFunction(`register() dispose for ${describe(name)}`, dispose);
  return kind;
}

export function checkToken(where: string, token: unknown): asserts token is Token<unknown> {
  if (!(token instanceof Token)) {
    throw new InvalidArgumentError(`${where} token must be made by token(); received ${describe(token)}`);
  }
}
