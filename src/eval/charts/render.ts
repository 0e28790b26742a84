/**
 * Vega-Lite spec -> PNG. The spec is compiled by vega-lite, rendered headless to SVG by vega's View
 * (renderer 'none', no canvas needed), and rasterized by sharp (librsvg). Text is drawn with the
 * system's fonts through fontconfig: on Debian install `fonts-dejavu-core`, otherwise labels can
 * come out as boxes or not at all.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec, type Config } from 'vega-lite';
import sharp from 'sharp';

/** Options shared by every chart function. */
export interface ChartOptions {
  /** Chart title; each chart has a sensible default. */
  title?: string;
  /** Optional second title line (e.g. the protocol or the data split). */
  subtitle?: string;
  /** Plot-area width in CSS pixels (before `scale`). */
  width?: number;
  /** Plot-area height in CSS pixels (before `scale`). */
  height?: number;
  /** Pixel-density multiplier of the PNG. Default 2 (crisp in reports). */
  scale?: number;
  /** If set, the PNG is also written there (parent folders are created). */
  outFile?: string;
}

/** Project-wide look: one font, readable sizes, white background. */
export const CHART_CONFIG: Config = {
  background: 'white',
  padding: 0,
  font: 'DejaVu Sans',
  title: { fontSize: 16, subtitleFontSize: 12, subtitleColor: '#555', anchor: 'start', offset: 10 },
  axis: { labelFontSize: 12, titleFontSize: 13, titlePadding: 8, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 12, titleFontSize: 12, labelLimit: 0 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  view: { stroke: '#bbb' },
};

/**
 * Renders a Vega-Lite spec to a PNG buffer (and writes `outFile` when given).
 *
 * @example
 *   const png = await renderVegaLite({ mark: 'bar', data: { values: [{ a: 1 }] },
 *     encoding: { y: { field: 'a', type: 'quantitative' } } }, { outFile: '/tmp/x.png' });
 */
export async function renderVegaLite(spec: TopLevelSpec, opts: Pick<ChartOptions, 'scale' | 'outFile'> = {}): Promise<Buffer> {
  const scale = opts.scale ?? 2;
  if (!(scale > 0)) throw new Error(`renderVegaLite: scale=${scale}, expected a positive number`);
  const withConfig = { ...spec, config: { ...CHART_CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec;
  const vgSpec = compile(withConfig).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  let svg: string;
  try {
    svg = await view.toSVG(scale);
  } finally {
    view.finalize();
  }
  // Vega sizes the canvas from estimated text widths (no font metrics headless), which can leave a
  // wide blank margin: trim the white border and add back a uniform one.
  const margin = Math.round(12 * scale);
  const trimmed = await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).trim({ background: '#ffffff', threshold: 1 }).toBuffer();
  const png = await sharp(trimmed)
    .extend({ top: margin, bottom: margin, left: margin, right: margin, background: '#ffffff' })
    .png()
    .toBuffer();
  if (opts.outFile) {
    await mkdir(dirname(opts.outFile), { recursive: true });
    await writeFile(opts.outFile, png);
  }
  return png;
}

/** Title block for a spec from chart options. */
export function titleOf(opts: ChartOptions, fallback: string): { text: string; subtitle?: string } {
  return opts.subtitle ? { text: opts.title ?? fallback, subtitle: opts.subtitle } : { text: opts.title ?? fallback };
}

/** Formats a fraction with `digits` decimals, or 'n/a' when not finite. */
export function fmt(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}
