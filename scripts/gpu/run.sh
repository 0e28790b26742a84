#!/usr/bin/env bash
# Run ON THE GPU MACHINE (NVIDIA H200, Python torch 2.x + CUDA, no Node, no internet), from the repo root,
# with .cache/gpu (from scripts/gpu/pack.sh), dist/ and node_modules/node-addon-api carried along.
# 1. unpacks Node, 2. builds the addon against the Python torch found there (CUDA libs, its C++ ABI),
# 3. runs the engine bench on CUDA in fp32 and bf16 (retalign vs PyTorch in the same run).
# Output goes to stdout and to $OUT (when set) as gpu-bench.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUTDIR="${OUT:-/tmp}"
work="$(mktemp -d)"
tar -C "$work" -xJf .cache/gpu/node.tar.xz
export PATH="$work/node/bin:$PATH"
node --version
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
PY="${PYTHON:-python3}"
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
# The build finds node headers next to the node binary ($work/node/include/node).
PYTHON="$PY" node native/build.mjs --force
{
  echo "== engine bench, CUDA fp32 =="
  PYTHON="$PY" node dist/bench/engine/run.js --device cuda --dtype float32 --iters 20
  echo "== engine bench, CUDA bf16 =="
  PYTHON="$PY" node dist/bench/engine/run.js --device cuda --dtype bfloat16 --iters 20
} 2>&1 | tee "$OUTDIR/gpu-bench.txt"
