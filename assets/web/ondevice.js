// Grading on this device: the photo is prepared here as the server prepares it
// (src/data/images/preprocess.ts: a work image whose shorter side is 1.5 S, the fundus disc found on a
// block-averaged luminance thumbnail, the disc's square resized to S x S with black outside the photo,
// normalized with the model's mean/std) and graded by the exported model (model.onnx, made by
// `retalign export`) with onnxruntime-web's WASM backend in a worker (ondevice-worker.js). The answer
// has the shape of the server's /v1/grade answer, so the page draws the same bars and text.
// Nothing is sent anywhere: the only requests are for model.json, model.onnx and the runtime's files.

const GRADES = 5;

/** Bounding box of the bright disc on a luminance image; null when nothing exceeds the threshold (crop.ts findFundusBox). */
export function findFundusBox(lum, w, h, threshold, minLineFraction) {
  const rows = new Uint32Array(h);
  const cols = new Uint32Array(w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (lum[y * w + x] > threshold) { rows[y]++; cols[x]++; }
    }
  }
  const span = (counts) => {
    let max = 0;
    for (const c of counts) max = Math.max(max, c);
    if (max === 0) return null;
    const cut = Math.max(1, minLineFraction * max);
    let lo = 0;
    while (counts[lo] < cut) lo++;
    let hi = counts.length - 1;
    while (counts[hi] < cut) hi--;
    return [lo, hi + 1];
  };
  const ys = span(rows);
  const xs = span(cols);
  if (ys === null || xs === null) return null;
  return { left: xs[0], top: ys[0], width: xs[1] - xs[0], height: ys[1] - ys[0] };
}

/** Resize -> extract -> pad that maps the box's square onto S x S (crop.ts planCrop). */
export function planCrop(imgW, imgH, box, S) {
  const side = Math.max(box.width, box.height);
  const s = S / side;
  const rw = Math.max(1, Math.round(imgW * s));
  const rh = Math.max(1, Math.round(imgH * s));
  const sx0 = Math.round((box.left + box.width / 2) * s - S / 2);
  const sy0 = Math.round((box.top + box.height / 2) * s - S / 2);
  return { resizeWidth: rw, resizeHeight: rh, left: sx0, top: sy0 };
}

/** Mean ITU-R 601 luma of block x block cells of RGBA pixels (preprocess.ts blockLuminance). */
function blockLuminance(rgba, ww, block, tw, th) {
  const out = new Uint8Array(tw * th);
  const norm = 1 / (block * block * 1000);
  for (let ty = 0; ty < th; ty++) {
    for (let tx = 0; tx < tw; tx++) {
      let s = 0;
      for (let y = ty * block; y < (ty + 1) * block; y++) {
        let i = (y * ww + tx * block) * 4;
        for (let k = 0; k < block; k++, i += 4) s += 299 * rgba[i] + 587 * rgba[i + 1] + 114 * rgba[i + 2];
      }
      out[ty * tw + tx] = Math.round(s * norm);
    }
  }
  return out;
}

/** Lanczos-3 weights of a 1-D resize from n to m samples (centres aligned), as libvips/the native fast path. */
function lanczosTaps(n, m) {
  const scale = n / m;
  const support = 3 * Math.max(1, scale);
  const sinc = (x) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
  const taps = [];
  for (let j = 0; j < m; j++) {
    const c = (j + 0.5) * scale - 0.5;
    const lo = Math.max(0, Math.ceil(c - support));
    const hi = Math.min(n - 1, Math.floor(c + support));
    const w = [];
    let sum = 0;
    for (let i = lo; i <= hi; i++) {
      const x = (i - c) / Math.max(1, scale);
      const v = Math.abs(x) < 3 ? sinc(x) * sinc(x / 3) : 0;
      w.push(v);
      sum += v;
    }
    taps.push({ lo, w: w.map((v) => v / sum) });
  }
  return taps;
}

/**
 * The S x S RGB crop of the resized work image (rw x rh) whose top-left sits at (left, top) of the
 * resized image, black outside it: separable Lanczos-3 over only the kept pixels.
 */
function resampleSquare(rgba, ww, wh, rw, rh, left, top, S) {
  const tx = lanczosTaps(ww, rw);
  const ty = lanczosTaps(wh, rh);
  const rgb = new Uint8Array(S * S * 3);
  const x0 = Math.max(0, left);
  const x1 = Math.min(rw, left + S);
  const y0 = Math.max(0, top);
  const y1 = Math.min(rh, top + S);
  if (x1 <= x0 || y1 <= y0) return rgb;
  // horizontal pass: every work row, kept columns only
  const cols = x1 - x0;
  const mid = new Float32Array(wh * cols * 3);
  for (let y = 0; y < wh; y++) {
    for (let x = x0; x < x1; x++) {
      const { lo, w } = tx[x];
      let r = 0, g = 0, b = 0;
      for (let k = 0; k < w.length; k++) {
        const i = (y * ww + lo + k) * 4;
        r += w[k] * rgba[i]; g += w[k] * rgba[i + 1]; b += w[k] * rgba[i + 2];
      }
      const o = (y * cols + (x - x0)) * 3;
      mid[o] = r; mid[o + 1] = g; mid[o + 2] = b;
    }
  }
  const clamp = (v) => Math.min(255, Math.max(0, Math.round(v)));
  for (let y = y0; y < y1; y++) {
    const { lo, w } = ty[y];
    for (let x = 0; x < cols; x++) {
      let r = 0, g = 0, b = 0;
      for (let k = 0; k < w.length; k++) {
        const i = ((lo + k) * cols + x) * 3;
        r += w[k] * mid[i]; g += w[k] * mid[i + 1]; b += w[k] * mid[i + 2];
      }
      const o = ((y - top) * S + (x + x0 - left)) * 3;
      rgb[o] = clamp(r); rgb[o + 1] = clamp(g); rgb[o + 2] = clamp(b);
    }
  }
  return rgb;
}

/** A decoded image's pixels at width x height on black (alpha flattened), as RGBA. */
function pixels(source, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(source, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height).data;
}

/**
 * A photo (File or Blob) -> { chw (3 x S x S normalized), rgb (S x S x 3 crop), size, box } with the
 * model's preprocessing constants (model.json's `preprocessing`).
 */
export async function preparePhoto(file, p) {
  const S = p.size;
  const bmp = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const side = Math.ceil(p.workFactor * S);
  const short = Math.min(bmp.width, bmp.height);
  const k = short > side ? side / short : 1; // the work image, never enlarged
  const ww = Math.max(1, Math.round(bmp.width * k));
  const wh = Math.max(1, Math.round(bmp.height * k));
  const work = pixels(bmp, ww, wh);
  bmp.close();
  const block = Math.max(1, Math.floor(Math.min(ww, wh) / p.thumbShort));
  const tw = Math.floor(ww / block);
  const th = Math.floor(wh / block);
  const b = findFundusBox(blockLuminance(work, ww, block, tw, th), tw, th, p.cropThreshold, p.minLineFraction);
  const box = b === null ? { left: 0, top: 0, width: ww, height: wh }
    : { left: b.left * block, top: b.top * block, width: b.width * block, height: b.height * block };
  const plan = planCrop(ww, wh, box, S);
  const rgb = resampleSquare(work, ww, wh, plan.resizeWidth, plan.resizeHeight, plan.left, plan.top, S);
  const n = S * S;
  const chw = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) chw[c * n + i] = (rgb[i * 3 + c] / 255 - p.mean[c]) / p.std[c];
  }
  return { chw, rgb, size: S, box, work: { width: ww, height: wh } };
}

function softmax(logits, T) {
  const z = Array.from(logits, (v) => v / T);
  const mx = Math.max(...z);
  const e = z.map((v) => Math.exp(v - mx));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function scale(logits, T) {
  const probabilities = softmax(logits, T);
  let grade = 0;
  for (let k = 1; k < GRADES; k++) if (probabilities[k] > probabilities[grade]) grade = k;
  return { probabilities, grade, confidence: probabilities[grade] };
}

const RAMP = [[0, 0, 0, 4], [0.25, 87, 16, 110], [0.5, 188, 55, 84], [0.75, 249, 142, 9], [1, 252, 255, 164]];
function rampColor(t) {
  const x = Math.min(1, Math.max(0, t));
  for (let i = 1; i < RAMP.length; i++) {
    const [t1, r1, g1, b1] = RAMP[i];
    if (x <= t1) {
      const [t0, r0, g0, b0] = RAMP[i - 1];
      const f = (x - t0) / (t1 - t0);
      return [r0 + f * (r1 - r0), g0 + f * (g1 - g0), b0 + f * (b1 - b0)];
    }
  }
  return [252, 255, 164];
}

/** The attention heatmap as the server draws it (heatmap.ts): the grid min-max scaled, upsampled, blended onto the crop. */
function heatmapDataUrl(rgb, S, weights, grid) {
  const side = S * Math.max(1, Math.ceil(256 / S));
  const crop = new OffscreenCanvas(S, S);
  const img = new ImageData(S, S);
  for (let i = 0; i < S * S; i++) { img.data.set([rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], 255], i * 4); }
  crop.getContext('2d').putImageData(img, 0, 0);
  const photo = pixels(crop, side, side);
  let lo = Infinity, hi = -Infinity;
  for (const v of weights) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const span = hi - lo;
  const at = (r, c) => (span > 0 ? (weights[r * grid + c] - lo) / span : 0);
  const canvas = document.createElement('canvas');
  canvas.width = side;
  canvas.height = side;
  const ctx = canvas.getContext('2d');
  const out = ctx.createImageData(side, side);
  for (let y = 0; y < side; y++) {
    const gy = Math.min(grid - 1, Math.max(0, ((y + 0.5) / side) * grid - 0.5));
    const r0 = Math.floor(gy), r1 = Math.min(grid - 1, r0 + 1), fy = gy - r0;
    for (let x = 0; x < side; x++) {
      const gx = Math.min(grid - 1, Math.max(0, ((x + 0.5) / side) * grid - 0.5));
      const c0 = Math.floor(gx), c1 = Math.min(grid - 1, c0 + 1), fx = gx - c0;
      const v = (at(r0, c0) * (1 - fx) + at(r0, c1) * fx) * (1 - fy) + (at(r1, c0) * (1 - fx) + at(r1, c1) * fx) * fy;
      const a = 0.7 * v;
      const [cr, cg, cb] = rampColor(v);
      const i = (y * side + x) * 4;
      out.data[i] = Math.round((1 - a) * photo[i] + a * cr);
      out.data[i + 1] = Math.round((1 - a) * photo[i + 1] + a * cg);
      out.data[i + 2] = Math.round((1 - a) * photo[i + 2] + a * cb);
      out.data[i + 3] = 255;
    }
  }
  ctx.putImageData(out, 0, 0);
  return canvas.toDataURL('image/png');
}

/**
 * Loads model.json and model.onnx from `base` (a URL of the folder holding them) into a worker;
 * `token` (the server's bearer token, '' for none) goes with both requests.
 * Returns { meta, threads, grade(file) -> answer like /v1/grade's, run(photo), close() }.
 */
export async function loadOnDevice(base, token = '') {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const metaRes = await fetch(new URL('model.json', base), { headers });
  if (!metaRes.ok) throw new Error(`cannot load the on-device model description (${metaRes.status} ${metaRes.statusText})`);
  const meta = await metaRes.json();
  if (meta.format !== 'retalign-onnx-1') throw new Error(`model.json has format ${JSON.stringify(meta.format)}; this page reads retalign-onnx-1`);
  if (!meta.outputs.includes('icdr_logits')) throw new Error(`the exported model ${meta.model} has no grade heads (parts ${meta.parts.join(', ')})`);
  const worker = new Worker(new URL('ondevice-worker.js', import.meta.url), { type: 'module' });
  let seq = 0;
  const pending = new Map();
  worker.onmessage = (ev) => {
    const { id, ok, result, error } = ev.data;
    const p = pending.get(id);
    pending.delete(id);
    if (p) (ok ? p.resolve(result) : p.reject(new Error(error)));
  };
  worker.onerror = (ev) => {
    for (const p of pending.values()) p.reject(new Error(`on-device worker failed: ${ev.message || 'unknown error'}`));
    pending.clear();
  };
  const call = (msg, transfer = []) => new Promise((resolve, reject) => {
    const id = ++seq;
    pending.set(id, { resolve, reject });
    worker.postMessage({ ...msg, id }, transfer);
  });
  const threads = self.crossOriginIsolated ? Math.min(2, navigator.hardwareConcurrency || 1) : 1;
  await call({ type: 'load', model: new URL('model.onnx', base).href, headers, ort: new URL('ort/', import.meta.url).href, threads });
  const T = meta.temperatures;

  /** Runs the model on a prepared photo: raw outputs and the milliseconds of the run alone. */
  async function run(photo) {
    return call({ type: 'run', chw: photo.chw, size: photo.size });
  }

  async function grade(file) {
    const photo = await preparePhoto(file, meta.preprocessing);
    const out = await run(photo);
    const icdr = scale(out.icdr_logits, T.icdr);
    const sdrg = scale(out.sdrg_logits, T.sdrg);
    const pRef = icdr.probabilities.slice(2).reduce((a, b) => a + b, 0);
    return {
      model: { name: meta.model, checkpointId: meta.checkpointId },
      icdr, sdrg,
      referable: { probability: pRef, flag: pRef >= 0.5, threshold: 0.5 },
      calibration: {
        fitted: T.fitted, icdrTemperature: T.icdr, sdrgTemperature: T.sdrg, exams: T.exams ?? null,
        note: T.fitted ? null : T.note ?? 'no temperatures were fitted for this model (index built without validation data)',
      },
      used: { image: true, note: false, fields: [] },
      heatmap: out.attention && meta.grid ? { mediaType: 'image/png', base64: heatmapDataUrl(photo.rgb, photo.size, out.attention, meta.grid).split(',')[1] } : null,
      similar: [],
      onDevice: { ms: out.ms, threads },
    };
  }

  return { meta, threads, grade, run, close: () => worker.terminate() };
}
