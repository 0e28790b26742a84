#!/usr/bin/env bash
# Run ON THE GPU MACHINE, from the repo root, as scripts/gpu/run.sh (.cache/gpu from pack.sh, dist/ and
# node_modules/node-addon-api carried along): builds the addon against the CUDA torch there (with
# NCCL when nccl.h is found next to it) and runs the 1-GPU NCCL process-group smoke test
# (scripts/gpu/nccl-smoke.mjs). Output to stdout and $OUT/gpu-nccl.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUTDIR="${OUT:-/tmp}"
work="$(mktemp -d)"
tar -C "$work" -xJf .cache/gpu/node.tar.xz
export PATH="$work/node/bin:$PATH"
PY="${PYTHON:-python3}"
{
  nvidia-smi --query-gpu=name --format=csv,noheader || true
  "$PY" -c 'import torch, torch.distributed as d; print("torch", torch.__version__, "nccl", d.is_nccl_available(), torch.cuda.nccl.version() if torch.cuda.is_available() else None)'
  PYTHON="$PY" node native/build.mjs --force
  node scripts/gpu/nccl-smoke.mjs
} 2>&1 | tee "$OUTDIR/gpu-nccl.txt"
