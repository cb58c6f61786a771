/**
 * Pictures of the evaluation, drawn as SVG and rendered to PNG with sharp (librsvg): labelled
 * image grids (example strips, the sweep grids) and line charts (the sweep's metric curves).
 * No chart library: the drawing is a few rectangles, polylines and text.
 */
import sharp from 'sharp';
import type { OverlayOptions } from 'sharp';
import { InvalidParametersError, type RgbImage } from '../engine/index.js';
import { resizeRgb } from './planes.js';

/** Escape text for SVG. */
export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';

export interface GridOptions {
  /** Rows of images; all rows have the same number of cells. */
  cells: RgbImage[][];
  /** One label per column, drawn above it. */
  columnLabels?: string[];
  /** One label per row, drawn left of it. */
  rowLabels?: string[];
  title?: string;
  /** Side each cell is drawn at (images of another size are resized, bicubic). Default: the first cell's width. */
  cellSize?: number;
}

/**
 * A labelled grid of images as PNG bytes.
 *
 * @example
 * ```ts
 * const png = await renderImageGrid({ cells: [[input, output, truth]], columnLabels: ['input', 'DR2E', 'ground truth'] });
 * ```
 */
export async function renderImageGrid(options: GridOptions): Promise<Uint8Array> {
  const { cells } = options;
  if (cells.length === 0 || cells[0]!.length === 0)
    throw new InvalidParametersError('an image grid needs at least one cell');
  const columns = cells[0]!.length;
  if (cells.some((row) => row.length !== columns))
    throw new InvalidParametersError('every grid row needs the same number of cells');
  const cell = options.cellSize ?? cells[0]![0]!.width;
  const gap = 4;
  const fontSize = Math.max(10, Math.min(14, Math.round(cell / 9)));
  const labelHeight = options.columnLabels ? Math.ceil(fontSize * 2.6) : 0;
  const titleHeight = options.title ? Math.ceil(fontSize * 2) : 0;
  const rowLabelWidth = options.rowLabels
    ? Math.max(...options.rowLabels.map((l) => l.length)) * fontSize * 0.62 + 12
    : 0;
  const width = Math.ceil(rowLabelWidth + columns * (cell + gap) + gap);
  const height = Math.ceil(titleHeight + labelHeight + cells.length * (cell + gap) + gap);
  const left0 = Math.ceil(rowLabelWidth) + gap;
  const top0 = titleHeight + labelHeight + gap;
  const texts: string[] = [];
  if (options.title) {
    texts.push(
      `<text x="${width / 2}" y="${fontSize * 1.4}" font-size="${fontSize + 1}" font-weight="bold" text-anchor="middle">${escapeXml(options.title)}</text>`,
    );
  }
  options.columnLabels?.forEach((label, c) => {
    // Long labels wrap onto two lines at the last space that fits.
    const x = left0 + c * (cell + gap) + cell / 2;
    const maxChars = Math.max(6, Math.floor(cell / (fontSize * 0.58)));
    const lines = wrap(label, maxChars);
    lines.slice(0, 2).forEach((line, i) => {
      const y = titleHeight + fontSize * (lines.length === 1 ? 1.8 : 1.15 + i * 1.2);
      texts.push(
        `<text x="${x}" y="${y}" font-size="${fontSize}" text-anchor="middle">${escapeXml(line)}</text>`,
      );
    });
  });
  options.rowLabels?.forEach((label, r) => {
    const y = top0 + r * (cell + gap) + cell / 2 + fontSize / 3;
    texts.push(
      `<text x="${rowLabelWidth - 6}" y="${y}" font-size="${fontSize}" text-anchor="end">${escapeXml(label)}</text>`,
    );
  });
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="white"/><g font-family="${FONT}" fill="#222">${texts.join('')}</g></svg>`;
  const overlays: OverlayOptions[] = [];
  cells.forEach((row, r) =>
    row.forEach((image, c) => {
      const drawn = image.width === cell && image.height === cell ? image : resizeRgb(image, cell, cell);
      overlays.push({
        input: Buffer.from(drawn.data.buffer, drawn.data.byteOffset, drawn.data.byteLength),
        raw: { width: cell, height: cell, channels: 3 },
        left: left0 + c * (cell + gap),
        top: top0 + r * (cell + gap),
      });
    }),
  );
  const png = await sharp(Buffer.from(svg)).composite(overlays).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

function wrap(text: string, maxChars: number): string[] {
  if (text.length <= maxChars) return [text];
  const cut = text.lastIndexOf(' ', maxChars);
  if (cut <= 0) return [text];
  return [text.slice(0, cut), text.slice(cut + 1)];
}

export interface ChartSeries {
  label: string;
  points: { x: number; y: number }[];
  /** Baselines are drawn dashed without markers. */
  dashed?: boolean;
  color?: string;
}

export interface ChartPanel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
}

/** Colours for successive series (colour-blind friendly Okabe-Ito order). */
export const SERIES_COLORS = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#D55E00',
  '#CC79A7',
  '#56B4E9',
  '#F0E442',
  '#000000',
];

/** "Nice" tick values (1, 2, 5 x 10^k steps) covering [min, max]. */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (max - min < 1e-12) {
    const pad = Math.abs(min) * 0.05 || 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function formatTick(value: number): string {
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 0.01 || abs >= 1e5)) return value.toExponential(1);
  return Number(value.toPrecision(4)).toString();
}

function panelSvg(panel: ChartPanel, x0: number, y0: number, width: number, height: number): string {
  const margin = { left: 62, right: 14, top: 30, bottom: 44 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const finite = panel.series
    .flatMap((s) => s.points)
    .filter((p) => Number.isFinite(p.y) && Number.isFinite(p.x));
  const xs = finite.map((p) => p.x);
  const ys = finite.map((p) => p.y);
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (xMin === xMax) {
    xMin -= 1;
    xMax += 1;
  }
  const yTicks = niceTicks(Math.min(...ys), Math.max(...ys));
  const yMin = Math.min(...ys, yTicks[0] ?? 0);
  const yMax = Math.max(...ys, yTicks[yTicks.length - 1] ?? 1);
  const px = (x: number): number => x0 + margin.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number): number => y0 + margin.top + plotH - ((y - yMin) / (yMax - yMin || 1)) * plotH;
  const parts: string[] = [];
  parts.push(
    `<rect x="${x0 + margin.left}" y="${y0 + margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
  );
  for (const t of yTicks) {
    const y = py(t);
    parts.push(
      `<line x1="${x0 + margin.left}" x2="${x0 + margin.left + plotW}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`,
    );
    parts.push(
      `<text x="${x0 + margin.left - 6}" y="${y + 4}" font-size="11" text-anchor="end">${formatTick(t)}</text>`,
    );
  }
  const xTicks = [...new Set(xs)].sort((a, b) => a - b);
  for (const t of xTicks.length <= 12 ? xTicks : niceTicks(xMin, xMax)) {
    const x = px(t);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${y0 + margin.top + plotH}" y2="${y0 + margin.top + plotH + 4}" stroke="#888"/>`,
    );
    parts.push(
      `<text x="${x}" y="${y0 + margin.top + plotH + 17}" font-size="11" text-anchor="middle">${formatTick(t)}</text>`,
    );
  }
  parts.push(
    `<text x="${x0 + margin.left + plotW / 2}" y="${y0 + height - 8}" font-size="12" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(${x0 + 14},${y0 + margin.top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle">${escapeXml(panel.yLabel)}</text>`,
  );
  parts.push(
    `<text x="${x0 + margin.left + plotW / 2}" y="${y0 + 19}" font-size="13" font-weight="bold" text-anchor="middle">${escapeXml(panel.title)}</text>`,
  );
  panel.series.forEach((series, i) => {
    const color = series.color ?? SERIES_COLORS[i % SERIES_COLORS.length]!;
    const points = series.points.filter((p) => Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    if (points.length === 0) return;
    const path = points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    if (!series.dashed) {
      for (const p of points)
        parts.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${color}"/>`);
    }
  });
  return parts.join('');
}

/**
 * Line-chart panels side by side (`columns` per row) with one shared legend, as PNG bytes.
 *
 * @example
 * ```ts
 * const png = await renderLineCharts([{ title: 'PSNR', xLabel: 'tau', yLabel: 'dB', series }], { title: 'x8 medium' });
 * ```
 */
export async function renderLineCharts(
  panels: ChartPanel[],
  options: { title?: string; columns?: number; panelWidth?: number; panelHeight?: number } = {},
): Promise<Uint8Array> {
  if (panels.length === 0) throw new InvalidParametersError('a chart needs at least one panel');
  const columns = Math.min(options.columns ?? 2, panels.length);
  const rows = Math.ceil(panels.length / columns);
  const panelW = options.panelWidth ?? 420;
  const panelH = options.panelHeight ?? 300;
  const titleH = options.title ? 34 : 0;
  // Legend: the series of the first panel (all panels share their series labels).
  const legendItems = panels[0]!.series.map((s, i) => ({
    label: s.label,
    color: s.color ?? SERIES_COLORS[i % SERIES_COLORS.length]!,
    dashed: s.dashed === true,
  }));
  const legendH = 30;
  const width = columns * panelW;
  const height = titleH + rows * panelH + legendH;
  const parts: string[] = [];
  if (options.title) {
    parts.push(
      `<text x="${width / 2}" y="22" font-size="15" font-weight="bold" text-anchor="middle">${escapeXml(options.title)}</text>`,
    );
  }
  panels.forEach((panel, i) => {
    parts.push(
      panelSvg(panel, (i % columns) * panelW, titleH + Math.floor(i / columns) * panelH, panelW, panelH),
    );
  });
  let x = 16;
  const y = titleH + rows * panelH + 18;
  for (const item of legendItems) {
    parts.push(
      `<line x1="${x}" x2="${x + 24}" y1="${y - 4}" y2="${y - 4}" stroke="${item.color}" stroke-width="2"${item.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    parts.push(`<text x="${x + 30}" y="${y}" font-size="12">${escapeXml(item.label)}</text>`);
    x += 40 + item.label.length * 7.2;
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="white"/><g font-family="${FONT}" fill="#222">${parts.join('')}</g></svg>`;
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
