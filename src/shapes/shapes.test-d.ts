import { describe, expectTypeOf, it } from 'vitest';
import { Registry } from '../registry/registry.ts';
import { type Circle, type Rectangle, Shape, type Triangle } from './shape.ts';
import { ShapeFactory } from './shape-factory.ts';

describe('ShapeFactory types', () => {
  it('returns the concrete class for a known literal, Shape for any string', () => {
    expectTypeOf(ShapeFactory.createShape('circle')).toEqualTypeOf<Circle>();
    expectTypeOf(ShapeFactory.createShape('rectangle', { width: 2 })).toEqualTypeOf<Rectangle>();
    expectTypeOf(new ShapeFactory().createShape('triangle')).toEqualTypeOf<Triangle>();
    expectTypeOf(ShapeFactory.createShape('x' as string)).toEqualTypeOf<Shape>();
  });

  it('checks dimensions of known kinds', () => {
    // @ts-expect-error a circle has no width
    ShapeFactory.createShape('circle', { width: 2 });
    // @ts-expect-error radius is a number
    ShapeFactory.createShape('circle', { radius: '2' });
  });
});

describe('Registry types', () => {
  it('keeps each factory’s parameters and return type', () => {
    const registry = new Registry('thing')
      .register('num', (n: number) => n * 2)
      .register('str', () => 'text');
    expectTypeOf(registry.create('num', 2)).toEqualTypeOf<number>();
    expectTypeOf(registry.create('str')).toEqualTypeOf<string>();
    // @ts-expect-error num needs a number
    registry.create('num', 'two');
    expectTypeOf(registry.names()).toEqualTypeOf<('num' | 'str')[]>();
    expectTypeOf(registry.resolveUrl('num://x').kind).toEqualTypeOf<'num' | 'str'>();
  });
});

// Keep Shape referenced as a value so the import is not type-only.
void Shape;
