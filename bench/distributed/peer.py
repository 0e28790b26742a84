"""One rank of bench/distributed's Python side: torch.distributed with Gloo (Debian's python3-torch), the
same all-reduce as our rank (bench/distributed/rank.ts). Joined through the env:// convention (WORLD_SIZE,
RANK, MASTER_ADDR, MASTER_PORT); then answers {"cmd": "allreduce", "mib": M, "reps": R} with the
wall milliseconds of each of R all-reduces (sum) of an M MiB float32 tensor, after a barrier.
"""
import os
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from peer_io import serve  # noqa: E402

torch.set_num_threads(1)
dist.init_process_group("gloo", init_method="env://")


def allreduce(cmd):
    n = int(cmd["mib"]) * 2**20 // 4
    t = torch.ones(n, dtype=torch.float32)
    dist.barrier()
    ms = []
    for _ in range(int(cmd["reps"])):
        t0 = time.perf_counter()
        dist.all_reduce(t)
        ms.append((time.perf_counter() - t0) * 1000)
    t.fill_(dist.get_rank() + 1)
    dist.all_reduce(t)
    return {"ms": ms, "check": float(t[0])}


serve({"torch": torch.__version__, "rank": dist.get_rank()}, {"allreduce": allreduce})
