/** Shape and its three kinds: validated dimensions, geometry, and an SVG rendering. */
import { checkOptions, describe, InvalidArgumentError, KeelError } from '../errors.ts';

/** Thrown for a dimension that is not a positive finite number, or a triangle that cannot close. */
export class InvalidShapeError extends KeelError {
  /** The dimension at fault (`radius`, `width`, `c`, ...), or `dimensions` for the object itself. */
  readonly field: string;
  readonly value: unknown;

  constructor(shape: string, field: string, value: unknown, reason: string) {
    super('KEEL_INVALID_SHAPE', `Invalid ${shape}: ${field} ${reason}; received ${describe(value)}`);
    this.field = field;
    this.value = value;
  }
}

export interface SvgOptions {
  /** @default 'none' */
  readonly fill?: string;
  /** @default 'black' */
  readonly stroke?: string;
}

const svgKeys = ['fill', 'stroke'] as const satisfies readonly (keyof SvgOptions)[];

/** Refuses unknown keys and colours that are not strings, naming the call (`Circle.toSVG()`). */
function checkSvgOptions(call: string, options: SvgOptions | undefined): void {
  checkOptions(`${call} options`, options, svgKeys);
  if (options === undefined) return;
  for (const key of svgKeys) {
    const value: unknown = options[key];
    if (value !== undefined && typeof value !== 'string') {
      throw new InvalidArgumentError(`${call} ${key} must be a string; received ${describe(value)}`);
    }
  }
}

/** Rounds away binary noise (0.30000000000000004) so SVG numbers stay short and stable. */
const n = (x: number): string => String(Number(x.toFixed(6)));
const attr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

function svg(width: number, height: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}">${body}</svg>`;
}

/** Checks a dimensions object: only the expected fields, each a positive finite number. */
function readDimensions<K extends string>(
  shape: string,
  input: unknown,
  fields: readonly K[],
  defaults: Record<K, number>,
): Record<K, number> {
  if (input === undefined) return { ...defaults };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidShapeError(shape, 'dimensions', input, `must be an object with ${fields.join(', ')}`);
  }
  for (const key of Object.keys(input)) {
    if (!(fields as readonly string[]).includes(key)) {
      throw new InvalidShapeError(
        shape,
        key,
        (input as Record<string, unknown>)[key],
        `is not a dimension of a ${shape} (expected ${fields.join(', ')})`,
      );
    }
  }
  const out = {} as Record<K, number>;
  for (const field of fields) {
    const value = Object.hasOwn(input, field) ? (input as Record<string, unknown>)[field] : defaults[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new InvalidShapeError(shape, field, value, 'must be a positive finite number');
    }
    out[field] = value;
  }
  return out;
}

/** A drawable shape with geometry. `draw()` keeps the classic demo's wording. */
export abstract class Shape {
  /** The shape's name as the factory knows it. */
  abstract readonly kind: string;
  abstract area(): number;
  abstract perimeter(): number;
  /** A standalone SVG document of the shape, sized to fit it. */
  abstract toSVG(options?: SvgOptions): string;

  draw(): string {
    return `Drawing a ${this.kind}.`;
  }

  /**
   * Rejects dimensions that are each valid but whose area or perimeter falls outside the finite positive
   * numbers (a radius of 1e200 squares to Infinity; one of 1e-200 to 0). Called by each constructor.
   */
  protected checkMeasures(dimensions: Readonly<Record<string, number>>): void {
    for (const [measure, value] of [
      ['area', this.area()],
      ['perimeter', this.perimeter()],
    ] as const) {
      if (!(Number.isFinite(value) && value > 0)) {
        throw new InvalidShapeError(
          this.kind,
          'dimensions',
          JSON.stringify(dimensions),
          `give an ${measure} of ${value}, outside the finite positive numbers`,
        );
      }
    }
  }

  protected style(options: SvgOptions = {}): string {
    return `fill="${attr(options.fill ?? 'none')}" stroke="${attr(options.stroke ?? 'black')}"`;
  }
}

export interface CircleDimensions {
  readonly radius: number;
}

export class Circle extends Shape {
  readonly kind = 'circle';
  readonly radius: number;

  /** @param dimensions @default { radius: 1 } */
  constructor(dimensions?: Partial<CircleDimensions>) {
    super();
    ({ radius: this.radius } = readDimensions('circle', dimensions, ['radius'], { radius: 1 }));
    this.checkMeasures({ radius: this.radius });
  }

  area(): number {
    return Math.PI * this.radius ** 2;
  }

  perimeter(): number {
    return 2 * Math.PI * this.radius;
  }

  toSVG(options?: SvgOptions): string {
    checkSvgOptions('Circle.toSVG()', options);
    const r = this.radius;
    return svg(2 * r, 2 * r, `<circle cx="${n(r)}" cy="${n(r)}" r="${n(r)}" ${this.style(options)}/>`);
  }
}

export interface RectangleDimensions {
  readonly width: number;
  readonly height: number;
}

export class Rectangle extends Shape {
  readonly kind = 'rectangle';
  readonly width: number;
  readonly height: number;

  /** @param dimensions @default { width: 1, height: 1 } */
  constructor(dimensions?: Partial<RectangleDimensions>) {
    super();
    ({ width: this.width, height: this.height } = readDimensions(
      'rectangle',
      dimensions,
      ['width', 'height'],
      {
        width: 1,
        height: 1,
      },
    ));
    this.checkMeasures({ width: this.width, height: this.height });
  }

  area(): number {
    return this.width * this.height;
  }

  perimeter(): number {
    return 2 * (this.width + this.height);
  }

  toSVG(options?: SvgOptions): string {
    checkSvgOptions('Rectangle.toSVG()', options);
    const { width: w, height: h } = this;
    return svg(w, h, `<rect x="0" y="0" width="${n(w)}" height="${n(h)}" ${this.style(options)}/>`);
  }
}

export interface TriangleDimensions {
  readonly a: number;
  readonly b: number;
  readonly c: number;
}

/** A triangle by its three side lengths; the default is equilateral with sides of 1. */
export class Triangle extends Shape {
  readonly kind = 'triangle';
  readonly a: number;
  readonly b: number;
  readonly c: number;

  /** @param dimensions @default { a: 1, b: 1, c: 1 } */
  constructor(dimensions?: Partial<TriangleDimensions>) {
    super();
    ({
      a: this.a,
      b: this.b,
      c: this.c,
    } = readDimensions('triangle', dimensions, ['a', 'b', 'c'], {
      a: 1,
      b: 1,
      c: 1,
    }));
    // Each side must be shorter than the other two together, or the sides cannot close into a triangle.
    for (const [side, others] of [
      ['a', ['b', 'c']],
      ['b', ['a', 'c']],
      ['c', ['a', 'b']],
    ] as const) {
      const sum = this[others[0]] + this[others[1]];
      if (this[side] >= sum) {
        throw new InvalidShapeError(
          'triangle',
          side,
          this[side],
          `must be shorter than ${others[0]} + ${others[1]} = ${sum} (triangle inequality)`,
        );
      }
    }
    this.checkMeasures({ a: this.a, b: this.b, c: this.c });
  }

  area(): number {
    // Heron's formula in Kahan's arrangement (sides sorted, longest first), which stays accurate for
    // needle-thin triangles, on sides scaled by the longest so that no intermediate product overflows.
    const [a, b, c] = [this.a, this.b, this.c].sort((x, y) => y - x) as [number, number, number];
    const x = b / a;
    const y = c / a;
    const q = (1 + (x + y)) * (y - (1 - x)) * (y + (1 - x)) * (1 + (x - y));
    return a * (a * (Math.sqrt(Math.max(0, q)) / 4));
  }

  perimeter(): number {
    return this.a + this.b + this.c;
  }

  toSVG(options?: SvgOptions): string {
    checkSvgOptions('Triangle.toSVG()', options);
    // Side c lies on the baseline from (0, 0) to (c, 0); the apex follows from the law of cosines.
    const { a, b, c } = this;
    const x = (b * b + c * c - a * a) / (2 * c);
    const y = Math.sqrt(Math.max(0, b * b - x * x));
    const minX = Math.min(0, x);
    const width = Math.max(c, x) - minX;
    const points = [
      [0 - minX, y],
      [c - minX, y],
      [x - minX, 0],
    ]
      .map(([px, py]) => `${n(px as number)},${n(py as number)}`)
      .join(' ');
    return svg(width, y, `<polygon points="${points}" ${this.style(options)}/>`);
  }
}
