/** Lays shapes out on one SVG sheet: a grid of equal cells, each shape scaled to fit its cell, captioned. */
import type { Shape } from '../contracts.ts';

const cell = 160;
const pad = 16;
const caption = 18;
const columns = 4;

const text = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (x: number): string => String(Number(x.toFixed(4)));

/** The width and height a shape's own SVG document declares. */
function sizeOf(svg: string): { width: number; height: number } {
  const width = Number(/\bwidth="([^"]+)"/.exec(svg)?.[1]);
  const height = Number(/\bheight="([^"]+)"/.exec(svg)?.[1]);
  return {
    width: Number.isFinite(width) && width > 0 ? width : 1,
    height: Number.isFinite(height) && height > 0 ? height : 1,
  };
}

/** Places one shape in its cell: scaled so its longer side fills the cell, with a 1-unit stroke after scaling. */
export function placeShape(shape: Shape, index: number): string {
  const x = (index % columns) * (cell + pad) + pad;
  const y = Math.floor(index / columns) * (cell + caption + pad) + pad;
  const { width, height } = sizeOf(shape.svg);
  const scale = Math.min(cell / width, cell / height);
  const dx = x + (cell - width * scale) / 2;
  const dy = y + (cell - height * scale) / 2;
  const label = `${shape.kind} · area ${shape.area.toPrecision(4)}`;
  return (
    `<g transform="translate(${num(dx)} ${num(dy)}) scale(${scale})" stroke-width="${1 / scale}">${shape.svg}</g>` +
    `<text x="${x + cell / 2}" y="${y + cell + caption - 4}" text-anchor="middle" font-family="sans-serif" font-size="12">${text(label)}</text>`
  );
}

/** The whole sheet, given the shapes already placed (in order). */
export function sheet(placed: readonly string[]): string {
  const cols = Math.min(columns, Math.max(1, placed.length));
  const rows = Math.max(1, Math.ceil(placed.length / columns));
  const width = cols * (cell + pad) + pad;
  const height = rows * (cell + caption + pad) + pad;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>${placed.join('')}</svg>`;
}
