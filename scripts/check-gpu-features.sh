#!/usr/bin/env bash
# Compiles (cargo check: no GPU and no linking needed) the workspace with each GPU backend burn
# offers behind archnet's features, so that `cuda` and `wgpu` stay real features and not names.
#
#   scripts/check-gpu-features.sh          # both
#   scripts/check-gpu-features.sh wgpu
#
# cuda: burn's CUDA backend pulls cubecl-llvm, whose build dependency tracel-llvm-bundler
# downloads an LLVM bundle from the internet in its build script. Where that is not reachable
# (this project's machines reach only the package registries), DOCS_RS=1 makes that build script
# skip the download, as it does on docs.rs; type-checking needs no LLVM. A real CUDA build (to run
# on a GPU) needs the download, or the bundle already in ~/.local/share/tracel.
#
# Not part of .ci/run: measured here on 2 cores, wgpu took 8 min and cuda 2 min more with the
# workspace's dependencies already checked; from an empty target folder it would push CI past its
# 40-minute budget.
set -euo pipefail
cd "$(dirname "$0")/.."
features=("$@")
if [ ${#features[@]} -eq 0 ]; then features=(wgpu cuda); fi
for f in "${features[@]}"; do
    echo "cargo check --workspace --features archnet-cli/$f" >&2
    if [ "$f" = cuda ] && [ -z "${TRACEL_LLVM_ONLINE:-}" ]; then
        DOCS_RS=1 cargo check --workspace --features "archnet-cli/$f"
    else
        cargo check --workspace --features "archnet-cli/$f"
    fi
done
