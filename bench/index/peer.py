"""NumPy peer for bench/index: brute-force top-k by matmul + argpartition on the same vectors.

Loads the vectors from a float32 file (little-endian rows after `offset` header bytes; the index's
own vectors.f32 has a 32-byte header) and the queries from a plain .f32 file, prints `ready`, then
answers one command per stdin line so that bench/index/run.ts can interleave its own queries with
these (both sides then see the same machine load):
  s <i>   single query i          -> {"t": seconds, "rows": [top-k rows, best first]}
  b <j>   batch j (rows n_single + j*batch ...) -> {"t": seconds}
  q       quit
usage: peer.py <vectors.f32> <offset> <n> <dim> <queries.f32> <n_single> <batch> <k>
Run with Debian's /usr/bin/python3 (numpy); OPENBLAS_NUM_THREADS is set by the caller.
"""
import json, sys, time
import numpy as np

path, offset, n, d, qpath, n_single, batch, k = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5], *map(int, sys.argv[6:9])
V = np.fromfile(path, dtype="<f4", count=n * d, offset=offset).reshape(n, d)
Q = np.fromfile(qpath, dtype="<f4").reshape(-1, d)


def top_k(q):
    s = V @ q  # (n,)
    idx = np.argpartition(-s, k - 1)[:k]
    return idx[np.argsort(-s[idx], kind="stable")]


def top_k_batch(qb):
    s = qb @ V.T  # (b, n)
    idx = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, idx, axis=1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


top_k(Q[0]); top_k_batch(Q[n_single:n_single + batch])  # warm-up
print(json.dumps({"ready": True, "numpy": np.__version__}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == "q":
        break
    i = int(cmd[1])
    if cmd[0] == "s":
        t = time.perf_counter(); r = top_k(Q[i]); t = time.perf_counter() - t
        print(json.dumps({"t": t, "rows": r.tolist()}), flush=True)
    else:
        qb = Q[n_single + i * batch:n_single + (i + 1) * batch]
        t = time.perf_counter(); top_k_batch(qb); t = time.perf_counter() - t
        print(json.dumps({"t": t}), flush=True)
