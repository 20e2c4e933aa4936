/** The registry floor: typed factories by name or URL scheme. */
export {
  DuplicateKindError,
  type Factory,
  InvalidOptionsError,
  type RegisterOptions,
  Registry,
  UnknownKindError,
} from './registry.ts';
