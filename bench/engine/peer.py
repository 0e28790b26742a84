"""Python peer for bench/engine: the same work with numpy (OpenBLAS ceiling) and PyTorch.

A long-lived process (bench/common/peer_io.py) so that bench/engine/run.ts can interleave the
sides round by round. Commands, one JSON line each:
  {"cmd": "warmup", "steps": W, "mm_reps": R}  W block steps and R matmuls per size, untimed
  {"cmd": "round", "steps": S, "mm_reps": R}   -> {"step": [S step times, s], "matmul": {"1024": [R times], ...},
                                                   "numpy": {"1024": [R times], ...} (CPU only),
                                                   "faults_per_step": minor page faults per block step}
Run by bench/engine/run.ts with Debian's python3-torch.
usage: peer.py <threads> <device> <dtype>
"""
import os, resource, sys, time
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from peer_io import serve  # noqa: E402

threads, device, dtype_name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
torch.set_num_threads(threads)
dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name]

def sync():
    if device.startswith("cuda"):
        torch.cuda.synchronize()

def times(fn, n):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); sync(); ts.append(time.perf_counter() - t0)
    return ts

SIZES = (1024, 2048)
np_mats = {n: (np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)) for n in SIZES} if device == "cpu" else {}
torch_mats = {n: (torch.rand(n, n, device=device, dtype=dtype), torch.rand(n, n, device=device, dtype=dtype)) for n in SIZES}

# One pre-norm transformer block (ViT-S: width 384, 6 heads, MLP 1536), seq 197, batch 32, AdamW.
D, H, T, B = 384, 6, 197, 32
torch.manual_seed(0)
def P(*shape, scale=0.02):
    return (torch.randn(*shape, device=device) * scale).to(dtype).requires_grad_()
ln1w, ln1b = torch.ones(D, device=device, dtype=dtype, requires_grad=True), torch.zeros(D, device=device, dtype=dtype, requires_grad=True)
ln2w, ln2b = torch.ones(D, device=device, dtype=dtype, requires_grad=True), torch.zeros(D, device=device, dtype=dtype, requires_grad=True)
qkvw, qkvb = P(3 * D, D), torch.zeros(3 * D, device=device, dtype=dtype, requires_grad=True)
projw, projb = P(D, D), torch.zeros(D, device=device, dtype=dtype, requires_grad=True)
fc1w, fc1b = P(4 * D, D), torch.zeros(4 * D, device=device, dtype=dtype, requires_grad=True)
fc2w, fc2b = P(D, 4 * D), torch.zeros(D, device=device, dtype=dtype, requires_grad=True)
params = [ln1w, ln1b, ln2w, ln2b, qkvw, qkvb, projw, projb, fc1w, fc1b, fc2w, fc2b]
opt = torch.optim.AdamW([{"params": [qkvw, projw, fc1w, fc2w], "weight_decay": 0.05},
                         {"params": [ln1w, ln1b, ln2w, ln2b, qkvb, projb, fc1b, fc2b], "weight_decay": 0.0}], lr=1e-4)
x = torch.randn(B, T, D, device=device).to(dtype)

def block(x):
    h = F.layer_norm(x, (D,), ln1w, ln1b, 1e-6)
    qkv = F.linear(h, qkvw, qkvb).reshape(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    att = (q @ k.transpose(-2, -1)) * (1.0 / (D // H) ** 0.5)
    att = att.softmax(dim=-1)
    y = (att @ v).transpose(1, 2).reshape(B, T, D)
    x = x + F.linear(y, projw, projb)
    h = F.layer_norm(x, (D,), ln2w, ln2b, 1e-6)
    return x + F.linear(F.gelu(F.linear(h, fc1w, fc1b)), fc2w, fc2b)

def train_step():
    loss = block(x).float().pow(2).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)

def matmuls(reps):
    tm = {str(n): times(lambda a=a, b=b: a @ b, reps) for n, (a, b) in torch_mats.items()}
    nm = {str(n): times(lambda a=a, b=b: a @ b, reps) for n, (a, b) in np_mats.items()}
    return tm, nm

def warmup(cmd):
    matmuls(cmd["mm_reps"])
    times(train_step, cmd["steps"])
    return {"ok": True}

def round_(cmd):
    tm, nm = matmuls(cmd["mm_reps"])
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step = times(train_step, cmd["steps"])
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    return {"step": step, "matmul": tm, "numpy": nm, "faults_per_step": faults / max(1, cmd["steps"])}

serve({"torch": torch.__version__, "threads": torch.get_num_threads(), "numpy": np.__version__},
      {"warmup": warmup, "round": round_})
