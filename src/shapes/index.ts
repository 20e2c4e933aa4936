/** The shapes module: the classic factory's products and the factory itself. */
export {
  Circle,
  type CircleDimensions,
  InvalidShapeError,
  Rectangle,
  type RectangleDimensions,
  Shape,
  type SvgOptions,
  Triangle,
  type TriangleDimensions,
} from './shape.ts';
export { ShapeFactory, type ShapeKinds } from './shape-factory.ts';
