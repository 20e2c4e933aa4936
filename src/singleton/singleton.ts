/** Singleton: one instance per class, either by extending `Singleton` or by wrapping a class in `singleton()`. */
import { checkFunction } from '../errors.ts';

const instances = new WeakMap<Function, object>();

/**
 * Extend this class to make `new` return the one instance of the subclass, as Python's `__new__` does in
 * the classic pattern. Each subclass has its own instance.
 *
 * A subclass's field initialisers and constructor body run again on every `new` (JavaScript runs them on
 * the object the base constructor returns). For a class with state, wrap it with `singleton()` instead.
 */
export class Singleton {
  constructor() {
    const existing = instances.get(new.target);
    // biome-ignore lint/correctness/noConstructorReturn: returning the existing instance is the pattern itself.
    if (existing !== undefined) return existing as this;
    instances.set(new.target, this);
  }
}

/** A class whose constructions all return one instance; `reset()` forgets it (for tests). */
export type SingletonClass<C extends abstract new (...args: any[]) => object> = C & {
  /** Forgets the instance, so the next `new` builds a fresh one. */
  reset(): void;
  /** The instance, if one has been built. */
  peek(): InstanceType<C> | undefined;
};

/**
 * Returns a class that builds `Class` on its first `new` and returns that same instance on every later
 * one, without running constructors or initialisers again. Arguments of later constructions are ignored.
 *
 * ```ts
 * const Config = singleton(class Config { values = new Map<string, string>() });
 * new Config() === new Config(); // true
 * ```
 */
export function singleton<C extends new (...args: any[]) => object>(Class: C): SingletonClass<C> {
  checkFunction('singleton() argument', Class);
  let instance: InstanceType<C> | undefined;
  const reset = (): void => {
    instance = undefined;
  };
  const peek = (): InstanceType<C> | undefined => instance;
  const proxy: C = new Proxy(Class, {
    construct(target, args, newTarget): object {
      // A subclass of the wrapped class is a class of its own: it gets its own instance, built normally.
      if (newTarget !== proxy) return Reflect.construct(target, args, newTarget);
      instance ??= Reflect.construct(target, args) as InstanceType<C>;
      return instance;
    },
    // The helpers live on the wrapper only; the wrapped class is left untouched.
    get(target, key, receiver) {
      if (key === 'reset') return reset;
      if (key === 'peek') return peek;
      return Reflect.get(target, key, receiver);
    },
  });
  return proxy as SingletonClass<C>;
}
