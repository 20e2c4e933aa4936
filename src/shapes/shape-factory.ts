/** ShapeFactory: the classic factory, built on a Registry so new kinds can be added without editing it. */
import { Registry } from '../registry/registry.ts';
import {
  Circle,
  type CircleDimensions,
  Rectangle,
  type RectangleDimensions,
  type Shape,
  Triangle,
  type TriangleDimensions,
} from './shape.ts';

export interface ShapeKinds {
  circle: (dimensions?: Partial<CircleDimensions>) => Circle;
  rectangle: (dimensions?: Partial<RectangleDimensions>) => Rectangle;
  triangle: (dimensions?: Partial<TriangleDimensions>) => Triangle;
}

type ShapeKindsMap = ShapeKinds & Record<string, (dimensions?: any) => Shape>;

function builtIns(): Registry<{
  [K in keyof ShapeKinds]: ShapeKinds[K];
}> {
  return new Registry('shape type')
    .register('circle', (d?: Partial<CircleDimensions>) => new Circle(d))
    .register('rectangle', (d?: Partial<RectangleDimensions>) => new Rectangle(d))
    .register('triangle', (d?: Partial<TriangleDimensions>) => new Triangle(d));
}

const defaults = builtIns();

/**
 * Creates shapes by name. `ShapeFactory.createShape` knows the three built-in kinds; an instance starts
 * with them too and can `register` more, without touching any other factory.
 *
 * ```ts
 * ShapeFactory.createShape('circle').draw();            // 'Drawing a circle.'
 * ShapeFactory.createShape('rectangle', { width: 2 });   // a 2 × 1 Rectangle
 * ```
 */
export class ShapeFactory {
  readonly #registry: Registry<ShapeKindsMap> = builtIns() as unknown as Registry<ShapeKindsMap>;

  /**
   * Creates a built-in shape; without dimensions, the unit shape.
   * @throws UnknownKindError for any other name; InvalidShapeError for bad dimensions.
   */
  static createShape<K extends keyof ShapeKinds>(
    type: K,
    ...dimensions: Parameters<ShapeKinds[K]>
  ): ReturnType<ShapeKinds[K]>;
  static createShape<T extends string>(
    type: T extends keyof ShapeKinds ? never : T,
    dimensions?: object,
  ): Shape;
  static createShape(type: string, dimensions?: object): Shape {
    return defaults.create(type, dimensions);
  }

  /** The names `ShapeFactory.createShape` knows. */
  static kinds(): string[] {
    return defaults.names();
  }

  /** Creates a shape of this factory's kinds (the built-ins and any registered on it). */
  createShape<K extends keyof ShapeKinds>(
    type: K,
    ...dimensions: Parameters<ShapeKinds[K]>
  ): ReturnType<ShapeKinds[K]>;
  createShape<T extends string>(type: T extends keyof ShapeKinds ? never : T, dimensions?: object): Shape;
  createShape(type: string, dimensions?: object): Shape {
    return this.#registry.create(type, dimensions);
  }

  /** Adds a kind to this factory only. @throws DuplicateKindError if the name is taken. */
  register(type: string, create: (dimensions?: any) => Shape): this {
    this.#registry.register(type, create);
    return this;
  }

  /** The names this factory knows, in registration order. */
  kinds(): string[] {
    return this.#registry.names();
  }
}
