"""Python peer for bench/index: brute-force top-k on the same vectors, two ways: NumPy (matmul +
argpartition) and PyTorch (matmul + topk, what a PyTorch user writes; the same libtorch kernels as
our index).

Loads the vectors from a float32 file (little-endian rows after `offset` header bytes; the index's
own vectors.f32 has a 32-byte header) and the queries from a plain .f32 file; torch shares NumPy's
memory (torch.from_numpy), so the store exists once here. A long-lived process
(bench/common/peer_io.py) answering one JSON line per command, so that bench/index/run.ts can
interleave its own queries with these (both sides then see the same machine load):
  {"cmd": "s", "i": i}  single query i  -> {"numpy": {"t": s, "rows": [top-k, best first]}, "torch": {...}}
  {"cmd": "b", "j": j}  batch j (query rows n_single + j*batch ...) -> {"numpy": {"t": s}, "torch": {"t": s}}
Within each command NumPy and torch alternate which goes first.
usage: peer.py <vectors.f32> <offset> <n> <dim> <queries.f32> <n_single> <batch> <k> <threads> [--negate]
  --negate searches with the negated queries (a forced top-10 disagreement, RETALIGN_BENCH_FORCE=top10)
Run with Debian's /usr/bin/python3 (numpy, torch); OPENBLAS_NUM_THREADS is set by the caller.
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from peer_io import serve  # noqa: E402

path, offset, n, d, qpath, n_single, batch, k, threads = (
    sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5], *map(int, sys.argv[6:10]))
negate = "--negate" in sys.argv[10:]
torch.set_num_threads(threads)
V = np.fromfile(path, dtype="<f4", count=n * d, offset=offset).reshape(n, d)
Q = np.fromfile(qpath, dtype="<f4").reshape(-1, d)
if negate:
    Q = -Q
Vt = torch.from_numpy(V)  # shares V's memory
Qt = torch.from_numpy(Q)


def np_top_k(q):
    s = V @ q  # (n,)
    idx = np.argpartition(-s, k - 1)[:k]
    return idx[np.argsort(-s[idx], kind="stable")]


def np_top_k_batch(qb):
    s = qb @ V.T  # (b, n)
    idx = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


def torch_top_k(q):
    return torch.mv(Vt, q).topk(k).indices  # (k,), best first


def torch_top_k_batch(qb):
    return qb.matmul(Vt.t()).topk(k, dim=1).indices  # (b, k)


def timed(fn, *args):
    t = time.perf_counter()
    r = fn(*args)
    return r, time.perf_counter() - t


def both(i, np_fn, np_arg, torch_fn, torch_arg, rows):
    out = {}
    order = [("numpy", np_fn, np_arg), ("torch", torch_fn, torch_arg)]
    for name, fn, arg in (order if i % 2 == 0 else order[::-1]):
        r, t = timed(fn, arg)
        out[name] = {"t": t, "rows": [int(x) for x in r.tolist()]} if rows else {"t": t}
    return out


def single(cmd):
    i = cmd["i"]
    return both(i, np_top_k, Q[i], torch_top_k, Qt[i], True)


def batched(cmd):
    j = cmd["j"]
    lo, hi = n_single + j * batch, n_single + (j + 1) * batch
    return both(j, np_top_k_batch, Q[lo:hi], torch_top_k_batch, Qt[lo:hi], False)


np_top_k(Q[0]); np_top_k_batch(Q[n_single:n_single + batch])  # warm-up
torch_top_k(Qt[0]); torch_top_k_batch(Qt[n_single:n_single + batch])
serve({"ready": True, "numpy": np.__version__, "torch": torch.__version__, "threads": torch.get_num_threads(), "python": sys.executable},
      {"s": single, "b": batched})
