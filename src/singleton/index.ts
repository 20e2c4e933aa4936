/** The singleton floor: one instance per class, and once-only lazy initialisation. */
export { type Lazy, lazy } from './lazy.ts';
export { Singleton, type SingletonClass, singleton } from './singleton.ts';
