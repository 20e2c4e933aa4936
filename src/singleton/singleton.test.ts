import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.ts';
import { Singleton, singleton } from './singleton.ts';

describe('Singleton (base class)', () => {
  it('gives the same object on every new, as the classic demo asserts', () => {
    expect(new Singleton()).toBe(new Singleton());
  });

  it('keeps one instance per subclass, distinct from the base and from siblings', () => {
    class Config extends Singleton {}
    class Pool extends Singleton {}
    const config = new Config();
    expect(new Config()).toBe(config);
    expect(config).toBeInstanceOf(Config);
    expect(new Pool()).not.toBe(config);
    expect(new Pool()).toBeInstanceOf(Pool);
    expect(new Singleton()).not.toBe(config);
  });
});

describe('singleton() wrapper', () => {
  it('builds once and returns the same instance without running the constructor again', () => {
    let built = 0;
    const Config = singleton(
      class Config {
        readonly values = new Map<string, string>();
        readonly name: string;
        constructor(name = 'default') {
          this.name = name;
          built++;
        }
      },
    );
    const a = new Config('first');
    a.values.set('k', 'v');
    const b = new Config('ignored');
    expect(b).toBe(a);
    expect(b.name).toBe('first');
    expect(b.values.get('k')).toBe('v');
    expect(built).toBe(1);
  });

  it('keeps instanceof and static members of the wrapped class', () => {
    class Service {
      static version = 3;
      readonly id = 1;
    }
    const Wrapped = singleton(Service);
    expect(new Wrapped()).toBeInstanceOf(Service);
    expect(new Wrapped()).toBeInstanceOf(Wrapped);
    expect(Wrapped.version).toBe(3);
  });

  it('peek() shows the instance once built; reset() makes the next new build a fresh one', () => {
    const Wrapped = singleton(class {});
    expect(Wrapped.peek()).toBeUndefined();
    const first = new Wrapped();
    expect(Wrapped.peek()).toBe(first);
    Wrapped.reset();
    expect(Wrapped.peek()).toBeUndefined();
    const second = new Wrapped();
    expect(second).not.toBe(first);
    expect(new Wrapped()).toBe(second);
  });

  it('does not touch the wrapped class itself', () => {
    class Plain {}
    singleton(Plain);
    expect('reset' in Plain).toBe(false);
    expect(new Plain()).not.toBe(new Plain());
  });

  it('a subclass of a wrapped class builds its own objects normally', () => {
    const Base = singleton(class Base {});
    class Child extends Base {}
    expect(new Child()).not.toBe(new Child());
    expect(new Child()).toBeInstanceOf(Child);
  });

  it('rejects a non-class with an error naming what came', () => {
    expect(() => singleton(42 as never)).toThrow(InvalidArgumentError);
    expect(() => singleton(42 as never)).toThrow(/must be a function; received 42/);
  });
});
