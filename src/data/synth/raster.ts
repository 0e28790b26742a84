/**
 * A tiny anti-aliased rasterizer over an interleaved RGB Float32Array (H, W, 3), values ~0..1.
 * Shapes blend toward a colour: c += (colour - c) * alpha * coverage, where coverage is the
 * 1-px-ramped inside-ness of the pixel centre. Loops touch only each shape's bounding box and
 * allocate nothing per pixel.
 */

export type RGB = readonly [number, number, number];

export class Canvas {
  /** (H, W, 3) interleaved. */
  readonly data: Float32Array;
  /** Per-pixel coverage scratch for polylines (kept zero between strokes) and touched indices. */
  private readonly scratch: Float32Array;
  private readonly touched: Int32Array;
  private nTouched = 0;

  constructor(readonly width: number, readonly height: number) {
    this.data = new Float32Array(width * height * 3);
    this.scratch = new Float32Array(width * height);
    this.touched = new Int32Array(width * height);
  }

  /** Zero the image (the scratch map is always left zero by stroke()). */
  clear(): void {
    this.data.fill(0);
  }

  /**
   * Blend a rotated ellipse (centre, radii and `edge` in px). `edge` is the width of the soft
   * rim (1 = plain anti-aliasing; larger = fluffy). With `flatTop`, pixels above that image row are
   * cut off with a 1-px ramp (a boat-shaped preretinal haemorrhage).
   *
   * @example canvas.ellipse(50, 50, 4, 2, 0.3, [0.5, 0.05, 0.03], 1)
   */
  ellipse(
    cx: number, cy: number, rx: number, ry: number, angle: number, col: RGB, alpha: number,
    edge = 1, flatTop = -Infinity,
  ): void {
    const reach = Math.max(rx, ry) + edge + 1;
    const x0 = Math.max(0, Math.floor(cx - reach));
    const x1 = Math.min(this.width - 1, Math.ceil(cx + reach));
    const y0 = Math.max(0, Math.floor(Math.max(cy - reach, flatTop - 1)));
    const y1 = Math.min(this.height - 1, Math.ceil(cy + reach));
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const irx = 1 / rx;
    const iry = 1 / ry;
    const [r, g, b] = col;
    const d = this.data;
    for (let y = y0; y <= y1; y++) {
      const dy = y - cy;
      const top = flatTop === -Infinity ? 1 : Math.min(1, Math.max(0, y - flatTop + 0.5));
      if (top <= 0) continue;
      let o = (y * this.width + x0) * 3;
      for (let x = x0; x <= x1; x++, o += 3) {
        const dx = x - cx;
        const u = (dx * c + dy * s) * irx;
        const v = (-dx * s + dy * c) * iry;
        const q = Math.sqrt(u * u + v * v);
        let cov: number;
        if (q < 1e-6) cov = 1;
        else {
          // Distance to the rim along the ray from the centre: dist * (1 - q) / q.
          const dist = Math.sqrt(dx * dx + dy * dy);
          cov = (dist * (1 - q)) / q / edge + 0.5;
          if (cov <= 0) continue;
          if (cov > 1) cov = 1;
        }
        const a = alpha * cov * top;
        const c0 = d[o] as number;
        const c1 = d[o + 1] as number;
        const c2 = d[o + 2] as number;
        d[o] = c0 + (r - c0) * a;
        d[o + 1] = c1 + (g - c1) * a;
        d[o + 2] = c2 + (b - c2) * a;
      }
    }
  }

  /**
   * Blend a polyline of tapered capsules (radius per point, px) as ONE shape: coverage is the max
   * over its segments, so joints are not blended twice.
   *
   * @example canvas.stroke([0, 10, 20], [0, 5, 5], [2, 1.5, 1], 3, [0.5, 0.1, 0.1], 1)
   */
  stroke(xs: ArrayLike<number>, ys: ArrayLike<number>, rs: ArrayLike<number>, n: number, col: RGB, alpha: number): void {
    const sc = this.scratch;
    for (let i = 0; i + 1 < n; i++) {
      this.capsule(xs[i] as number, ys[i] as number, xs[i + 1] as number, ys[i + 1] as number, rs[i] as number, rs[i + 1] as number);
    }
    if (n === 1) this.capsule(xs[0] as number, ys[0] as number, xs[0] as number, ys[0] as number, rs[0] as number, rs[0] as number);
    const [r, g, b] = col;
    const d = this.data;
    for (let k = 0; k < this.nTouched; k++) {
      const p = this.touched[k] as number;
      const a = alpha * (sc[p] as number);
      sc[p] = 0;
      const o = p * 3;
      const c0 = d[o] as number;
      const c1 = d[o + 1] as number;
      const c2 = d[o + 2] as number;
      d[o] = c0 + (r - c0) * a;
      d[o + 1] = c1 + (g - c1) * a;
      d[o + 2] = c2 + (b - c2) * a;
    }
    this.nTouched = 0;
  }

  /** Max-accumulate one capsule's coverage into the scratch map. */
  private capsule(ax: number, ay: number, bx: number, by: number, ra: number, rb: number): void {
    const reach = Math.max(ra, rb) + 1.5;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - reach));
    const x1 = Math.min(this.width - 1, Math.ceil(Math.max(ax, bx) + reach));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - reach));
    const y1 = Math.min(this.height - 1, Math.ceil(Math.max(ay, by) + reach));
    const ex = bx - ax;
    const ey = by - ay;
    const len2 = ex * ex + ey * ey;
    const inv = len2 > 1e-12 ? 1 / len2 : 0;
    const sc = this.scratch;
    for (let y = y0; y <= y1; y++) {
      let p = y * this.width + x0;
      for (let x = x0; x <= x1; x++, p++) {
        const px = x - ax;
        const py = y - ay;
        let t = (px * ex + py * ey) * inv;
        if (t < 0) t = 0;
        else if (t > 1) t = 1;
        const qx = px - t * ex;
        const qy = py - t * ey;
        const cov = ra + (rb - ra) * t - Math.sqrt(qx * qx + qy * qy) + 0.5;
        if (cov <= 0) continue;
        const old = sc[p] as number;
        if (old === 0) this.touched[this.nTouched++] = p;
        const c = cov > 1 ? 1 : cov;
        if (c > old) sc[p] = c;
      }
    }
  }
}
