import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DuplicateKindError, UnknownKindError } from '../registry/registry.ts';
import { Circle, InvalidShapeError, Rectangle, Shape, Triangle } from './shape.ts';
import { ShapeFactory } from './shape-factory.ts';

const caught = (fn: () => unknown): InvalidShapeError => {
  try {
    fn();
  } catch (error) {
    return error as InvalidShapeError;
  }
  throw new Error('expected a throw');
};

describe('ShapeFactory: the classic demo', () => {
  it.each([
    ['circle', 'Drawing a circle.', Circle],
    ['rectangle', 'Drawing a rectangle.', Rectangle],
    ['triangle', 'Drawing a triangle.', Triangle],
  ] as const)('createShape(%s) draws "%s", statically and through an instance', (type, drawing, Class) => {
    expect(ShapeFactory.createShape(type).draw()).toBe(drawing);
    expect(new ShapeFactory().createShape(type)).toBeInstanceOf(Class);
    expect(ShapeFactory.createShape(type)).toBeInstanceOf(Shape);
  });

  it('raises UnknownKindError for any other name, listing the known ones', () => {
    expect(() => ShapeFactory.createShape('hexagon')).toThrow(UnknownKindError);
    expect(() => ShapeFactory.createShape('hexagon')).toThrow(
      'Unknown shape type "hexagon" (known: circle, rectangle, triangle)',
    );
    for (const name of ['constructor', '__proto__', 'toString', '', 'Circle', ' circle']) {
      expect(() => ShapeFactory.createShape(name)).toThrow(UnknownKindError);
    }
  });

  it('builds unit shapes without dimensions and real ones with them', () => {
    expect(ShapeFactory.createShape('circle').radius).toBe(1);
    expect(ShapeFactory.createShape('rectangle', { width: 3 })).toMatchObject({ width: 3, height: 1 });
    expect(ShapeFactory.createShape('triangle', { a: 3, b: 4, c: 5 }).area()).toBeCloseTo(6);
    expect(ShapeFactory.kinds()).toEqual(['circle', 'rectangle', 'triangle']);
  });

  it('an instance can learn new kinds without changing the static factory or other instances', () => {
    class Square extends Shape {
      readonly kind = 'square';
      readonly side: number;
      constructor(d?: { side?: number }) {
        super();
        this.side = d?.side ?? 1;
      }
      area = () => this.side ** 2;
      perimeter = () => 4 * this.side;
      toSVG = () => '<svg/>';
    }
    const factory = new ShapeFactory().register('square', (d?: { side?: number }) => new Square(d));
    expect(factory.createShape('square', { side: 2 }).area()).toBe(4);
    expect(factory.createShape('square').draw()).toBe('Drawing a square.');
    expect(factory.kinds()).toEqual(['circle', 'rectangle', 'triangle', 'square']);
    expect(() => new ShapeFactory().createShape('square')).toThrow(UnknownKindError);
    expect(() => ShapeFactory.createShape('square')).toThrow(UnknownKindError);
    expect(() => factory.register('circle', () => new Circle())).toThrow(DuplicateKindError);
  });
});

describe('shape geometry', () => {
  it('circle: area πr², perimeter 2πr', () => {
    const c = new Circle({ radius: 2 });
    expect(c.area()).toBeCloseTo(4 * Math.PI);
    expect(c.perimeter()).toBeCloseTo(4 * Math.PI);
  });

  it('rectangle: area w·h, perimeter 2(w+h)', () => {
    const r = new Rectangle({ width: 2, height: 3 });
    expect(r.area()).toBe(6);
    expect(r.perimeter()).toBe(10);
  });

  it('triangle: Heron’s area and the sum of sides; the default is equilateral', () => {
    expect(new Triangle({ a: 3, b: 4, c: 5 }).perimeter()).toBe(12);
    expect(new Triangle().area()).toBeCloseTo(Math.sqrt(3) / 4);
  });

  it('any valid triangle has a positive area no larger than that of its equilateral peer', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 1000, noNaN: true }),
        fc.double({ min: 0.01, max: 1000, noNaN: true }),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        (a, b, t) => {
          // c strictly between |a - b| and a + b, so the sides close.
          const low = Math.abs(a - b);
          const c = low + t * (a + b - low);
          fc.pre(c > low * (1 + 1e-9) && c < (a + b) * (1 - 1e-9));
          const triangle = new Triangle({ a, b, c });
          const p = triangle.perimeter();
          expect(triangle.area()).toBeGreaterThan(0);
          expect(triangle.area()).toBeLessThanOrEqual((Math.sqrt(3) / 36) * p * p * (1 + 1e-9));
        },
      ),
    );
  });
});

describe('shape validation', () => {
  const bad: [string, unknown][] = [
    ['negative', -1],
    ['zero', 0],
    ['NaN', Number.NaN],
    ['infinite', Number.POSITIVE_INFINITY],
    ['a numeric string', '2'],
    ['null', null],
    ['a boolean', true],
  ];

  it.each(bad)('rejects a %s dimension, naming the field and the value', (_label, value) => {
    const error = caught(() => new Circle({ radius: value as number }));
    expect(error).toBeInstanceOf(InvalidShapeError);
    expect(error.code).toBe('KEEL_INVALID_SHAPE');
    expect(error.field).toBe('radius');
    expect(error.value).toBe(value);
    expect(error.message).toMatch(/^Invalid circle: radius must be a positive finite number; received /);
  });

  it('names the failing field among several', () => {
    expect(caught(() => new Rectangle({ width: 2, height: -3 })).message).toBe(
      'Invalid rectangle: height must be a positive finite number; received -3',
    );
    expect(caught(() => ShapeFactory.createShape('triangle', { a: 1, b: 1, c: Number.NaN })).field).toBe('c');
  });

  it('rejects dimensions that are not an object, and fields a shape does not have', () => {
    expect(caught(() => new Circle(5 as never)).message).toBe(
      'Invalid circle: dimensions must be an object with radius; received 5',
    );
    expect(caught(() => new Circle([] as never)).field).toBe('dimensions');
    expect(caught(() => new Circle({ radius: 1, width: 2 } as never)).message).toBe(
      'Invalid circle: width is not a dimension of a circle (expected radius); received 2',
    );
  });

  it('rejects dimensions whose area or perimeter is not a finite positive number', () => {
    expect(caught(() => new Circle({ radius: 1e200 })).message).toBe(
      'Invalid circle: dimensions give an area of Infinity, outside the finite positive numbers; received "{\\"radius\\":1e+200}"',
    );
    expect(caught(() => new Circle({ radius: 1e-200 })).message).toMatch(/give an area of 0/);
    expect(caught(() => new Rectangle({ width: 1e300, height: 1e300 })).field).toBe('dimensions');
    expect(caught(() => new Triangle({ a: 1e308, b: 1e308, c: 1e308 })).message).toMatch(/area of Infinity/);
    expect(caught(() => new Rectangle({ width: 1.7e308, height: 1e-300 })).message).toMatch(
      /perimeter of Infinity/,
    );
  });

  it('computes the area of large triangles without overflow, and of needle-thin ones without losing it', () => {
    const big = new Triangle({ a: 3e150, b: 4e150, c: 5e150 });
    expect(big.area() / 6e300).toBeCloseTo(1, 12);
    // Its area, about 9.74e307, is representable although the square of a side is not.
    const huge = new Triangle({ a: 1.5e154, b: 1.5e154, c: 1.5e154 });
    expect(huge.area() / ((Math.sqrt(3) / 4) * 1.5e154 * 1.5e154)).toBeCloseTo(1, 12);
    // Closes by 2^-51 of its length: a tiny area, not zero.
    const thin = new Triangle({ a: 2, b: 1, c: 1 + 2 ** -51 });
    expect(thin.area()).toBeGreaterThan(0);
    expect(thin.area()).toBeCloseTo(Math.sqrt(2 ** -51), 10);
  });

  it('rejects triangles that break the triangle inequality, degenerate ones included', () => {
    const error = caught(() => new Triangle({ a: 1, b: 2, c: 3 }));
    expect(error.field).toBe('c');
    expect(error.message).toBe(
      'Invalid triangle: c must be shorter than a + b = 3 (triangle inequality); received 3',
    );
    expect(caught(() => new Triangle({ a: 10, b: 2, c: 3 })).field).toBe('a');
    expect(caught(() => new Triangle({ a: 2, b: 10, c: 3 })).field).toBe('b');
  });
});

describe('toSVG options', () => {
  it.each([
    ['Circle', new Circle()],
    ['Rectangle', new Rectangle()],
    ['Triangle', new Triangle()],
  ] as const)('%s.toSVG() refuses an unknown option and a colour that is not a string', (name, shape) => {
    expect(() => shape.toSVG({ color: 'red' } as never)).toThrow(
      `${name}.toSVG() options: unknown option "color"; known options: fill, stroke`,
    );
    expect(() => shape.toSVG({ fill: 1 } as never)).toThrow(
      `${name}.toSVG() fill must be a string; received 1`,
    );
  });
});

describe('toSVG', () => {
  it('renders a standalone SVG sized to the shape', () => {
    expect(new Circle({ radius: 2 }).toSVG()).toBe(
      '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4" viewBox="0 0 4 4"><circle cx="2" cy="2" r="2" fill="none" stroke="black"/></svg>',
    );
    expect(new Rectangle({ width: 0.1 + 0.2, height: 1 }).toSVG({ fill: 'red' })).toContain(
      '<rect x="0" y="0" width="0.3" height="1" fill="red" stroke="black"/>',
    );
  });

  it('places a triangle’s vertices at distances equal to its sides', () => {
    const t = new Triangle({ a: 3, b: 4, c: 5 });
    const points = /points="([^"]+)"/
      .exec(t.toSVG())?.[1]
      ?.split(' ')
      .map((p) => p.split(',').map(Number)) as [number, number][];
    const dist = (p: [number, number], q: [number, number]) => Math.hypot(p[0] - q[0], p[1] - q[1]);
    const [p0, p1, p2] = points as [[number, number], [number, number], [number, number]];
    expect(dist(p0, p1)).toBeCloseTo(5, 5);
    expect(dist(p1, p2)).toBeCloseTo(3, 5);
    expect(dist(p0, p2)).toBeCloseTo(4, 5);
    // Obtuse triangles keep every vertex inside the view box.
    const obtuse = new Triangle({ a: 1, b: 5, c: 4.5 }).toSVG();
    for (const n of /points="([^"]+)"/.exec(obtuse)?.[1]?.split(/[ ,]/).map(Number) ?? []) {
      expect(n).toBeGreaterThanOrEqual(0);
    }
  });

  it('escapes attribute values', () => {
    expect(new Circle().toSVG({ stroke: '"><script>' })).toContain('stroke="&quot;>&lt;script>"');
  });
});
