"""PyTorch peer of retalign's image pipeline, for bench/data/run.ts: what a PyTorch user runs.

A torch.utils.data.Dataset whose __getitem__ does the same transforms as retalign's pipeline with
PIL + numpy: decode, find the fundus disc on a small luminance thumbnail, crop its bounding square
(black beyond the image), resize to S x S (Lanczos, as ours), scale to 0..1, normalize with
mean/std, CHW float32; served by a torch DataLoader with the same number of worker processes, batch
size and prefetch depth as retalign's ImageLoader (persistent workers, as in training, so both
sides stay warm between rounds).

JPEGs are opened with PIL's draft mode (DCT-domain decode at 1/2, 1/4 or 1/8 scale, never below
S) because ours does the same (libjpeg-turbo scaled decode, or sharp's shrink-on-load); without it
PIL would decode every full-size pixel and the comparison would be unfair to Python.

CPU time of a round: this process's process_time() plus, per worker, the growth of the worker's own
process_time(), which the collate function stamps on every batch it makes (the workers are forked
processes, invisible to this process's clock).

A long-lived process (bench/common/peer_io.py). Ready line: versions and the first image's CHW
float32 of every path, in order, written to --dump (for the same-work check). Then one JSON line each:
  {"cmd": "run"}  one pass over the paths x --repeat -> {"images", "seconds", "cpu_seconds", "workers_seen"}
usage: /usr/bin/python3 pipeline_peer.py --workers 2 --batch 16 --prefetch 2 --size 224 --repeat 4 --dump first.f32 img1.jpg ...
"""
import argparse
import os
import sys
import time

import numpy as np
import PIL
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, get_worker_info

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from peer_io import serve  # noqa: E402


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
    im.draft("RGB", (size, size))  # JPEG shrink-on-load, as ours
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


class FundusDataset(Dataset):
    def __init__(self, paths, size, mean, std, threshold):
        self.paths, self.size, self.mean, self.std, self.threshold = paths, size, mean, std, threshold

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return torch.from_numpy(preprocess(self.paths[i], self.size, self.mean, self.std, self.threshold))  # (3, S, S)


def collate(items):
    """default_collate's stack, plus (worker id, the worker's CPU seconds so far) for the CPU column."""
    info = get_worker_info()
    return torch.stack(items), (-1 if info is None else info.id), time.process_time()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--mean", type=float, nargs=3, default=[0.485, 0.456, 0.406])
    p.add_argument("--std", type=float, nargs=3, default=[0.229, 0.224, 0.225])
    p.add_argument("--threshold", type=float, default=10)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--workers", type=int, required=True, help="DataLoader num_workers (retalign's worker count)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--prefetch", type=int, default=2, help="DataLoader prefetch_factor (batches per worker)")
    p.add_argument("--dump", required=True, help="write every image's CHW float32 here, in path order")
    p.add_argument("paths", nargs="+")
    a = p.parse_args()
    torch.set_num_threads(1)  # the work is in PIL/numpy; as DataLoader workers do
    mean = np.asarray(a.mean, dtype=np.float32)
    std = np.asarray(a.std, dtype=np.float32)
    ds = FundusDataset(list(a.paths) * a.repeat, a.size, mean, std, a.threshold)
    with open(a.dump, "wb") as f:  # the same-work check: every image once, in path order
        for i in range(len(a.paths)):
            f.write(ds[i].numpy().astype(np.float32).tobytes())
    extra = {"persistent_workers": True, "prefetch_factor": a.prefetch} if a.workers > 0 else {}
    loader = DataLoader(ds, batch_size=a.batch, shuffle=False, num_workers=a.workers, collate_fn=collate, **extra)
    last_cpu = {}  # worker id -> its CPU seconds at its last batch

    def run(_cmd):
        n = 0
        c0, t0 = time.process_time(), time.perf_counter()
        seen = {}
        for x, wid, cpu in loader:
            assert tuple(x.shape[1:]) == (3, a.size, a.size), x.shape
            n += x.shape[0]
            seen[wid] = max(seen.get(wid, 0.0), cpu)
        dt = time.perf_counter() - t0
        main_cpu = time.process_time() - c0
        workers_cpu = sum(v - last_cpu.get(w, 0.0) for w, v in seen.items() if w >= 0)
        last_cpu.update(seen)
        return {"images": n, "seconds": dt, "cpu_seconds": main_cpu + workers_cpu, "workers_seen": len([w for w in seen if w >= 0])}

    serve({"torch": torch.__version__, "numpy": np.__version__, "pil": PIL.__version__, "python": sys.executable,
           "workers": a.workers, "batch": a.batch}, {"run": run})


if __name__ == "__main__":
    main()
