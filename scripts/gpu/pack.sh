#!/usr/bin/env bash
# Run HERE (the CPU machine) before a GPU session: packs what the GPU machine lacks (it has Python +
# torch 2.x + CUDA, but no Node and no internet) into .cache/gpu/, an ignored folder to carry.
#   bash scripts/gpu/pack.sh
# then, with the device tool: run(command="bash scripts/gpu/run.sh", carry=[".cache/gpu", "dist", "node_modules/node-addon-api"])
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .cache/gpu
make build >/dev/null
node_bin="$(command -v node)"
node_inc="$(dirname "$(dirname "$node_bin")")/include/node"
[ -f "$node_inc/node_api.h" ] || node_inc=/usr/include/node
tmp="$(mktemp -d)"
mkdir -p "$tmp/node/bin" "$tmp/node/include"
cp "$node_bin" "$tmp/node/bin/node"
cp -r "$node_inc" "$tmp/node/include/node"
tar -C "$tmp" -cJf .cache/gpu/node.tar.xz node
rm -rf "$tmp"
ls -lh .cache/gpu/node.tar.xz
