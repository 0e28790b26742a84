"""Python peer of retalign's image pipeline, for bench/data/run.ts.

What a typical user would write with PIL + numpy, single process: decode, find the fundus disc on
a small luminance thumbnail, crop its bounding square (black beyond the image), resize to S x S
(Lanczos, as sharp's default), scale to 0..1, normalize with mean/std, transpose to CHW float32.

JPEGs are opened with PIL's draft mode (DCT-domain decode at 1/2, 1/4 or 1/8 scale, never below
S) because sharp does the same automatically (shrink-on-load); without it PIL would decode every
full-size pixel and the comparison would be unfair to Python.

Usage: /usr/bin/python3 pipeline_peer.py --size 224 --repeat 3 [--dump first.f32] [--serve] img1.jpg ...
Prints one JSON line: {"images": n, "seconds": wall, "cpu_seconds": cpu, "images_per_s": r}. With --serve
it stays up (as a training data loader does, so that both sides of the bench are equally warm) and
prints one such line per 'run' line read from stdin.
"""
import argparse
import json
import sys
import time

import numpy as np
from PIL import Image


def fundus_box(lum, threshold, min_line_fraction=0.1):
    """Bounding box (x0, y0, x1, y1) of rows/columns whose bright count >= 10% of the max."""
    bright = lum > threshold
    rows = bright.sum(axis=1)
    cols = bright.sum(axis=0)
    if rows.max() == 0:
        return None
    ys = np.nonzero(rows >= max(1, min_line_fraction * rows.max()))[0]
    xs = np.nonzero(cols >= max(1, min_line_fraction * cols.max()))[0]
    return xs[0], ys[0], xs[-1] + 1, ys[-1] + 1


def preprocess(path, size, mean, std, threshold):
    im = Image.open(path)
    im.draft("RGB", (size, size))  # JPEG shrink-on-load, as sharp does
    im = im.convert("RGB")  # drops alpha (retalign flattens it onto black; the bench JPEGs have none)
    w, h = im.size
    thumb = im.convert("L")
    thumb.thumbnail((128, 128))
    box = fundus_box(np.asarray(thumb), threshold)
    if box is None:
        x0, y0, x1, y1 = 0.0, 0.0, float(w), float(h)
    else:
        sx, sy = w / thumb.width, h / thumb.height
        x0, y0, x1, y1 = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = round(cx - side / 2), round(cy - side / 2)
    # PIL's crop fills the part outside the image with black: the pad-to-square step
    sq = im.crop((left, top, left + round(side), top + round(side)))
    sq = sq.resize((size, size), Image.LANCZOS)
    a = np.asarray(sq, dtype=np.float32) / 255.0
    a = (a - mean) / std
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def run_once(paths, size, mean, std, threshold, repeat):
    n = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(repeat):
        for path in paths:
            x = preprocess(path, size, mean, std, threshold)
            assert x.shape == (3, size, size)
            n += 1
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {"images": n, "seconds": dt, "cpu_seconds": cpu, "images_per_s": n / dt}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--mean", type=float, nargs=3, default=[0.485, 0.456, 0.406])
    p.add_argument("--std", type=float, nargs=3, default=[0.229, 0.224, 0.225])
    p.add_argument("--threshold", type=float, default=10)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--dump", default=None, help="write the first image's CHW float32 here")
    p.add_argument("--serve", action="store_true",
                   help="stay up: one timed run per line 'run' on stdin, one JSON line each; EOF ends")
    p.add_argument("paths", nargs="+")
    a = p.parse_args()
    mean = np.asarray(a.mean, dtype=np.float32)
    std = np.asarray(a.std, dtype=np.float32)
    first = preprocess(a.paths[0], a.size, mean, std, a.threshold)  # warm-up, not timed
    if a.dump:
        first.astype(np.float32).tofile(a.dump)
    if not a.serve:
        print(json.dumps(run_once(a.paths, a.size, mean, std, a.threshold, a.repeat)))
        return
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            print(json.dumps(run_once(a.paths, a.size, mean, std, a.threshold, a.repeat)), flush=True)


if __name__ == "__main__":
    main()
