#!/usr/bin/env bash
# Peak memory of the two dataset-sized jobs at 10,000 and 60,000 MNIST images: encrypting with the
# paper-mnist key, and one epoch of the cnn on the result. Streaming means the two sizes peak at
# about the same RSS. Needs ../shared/datasets, a release build and a paper-mnist key (KEY=…,
# default: the one scripts/security-tables.sh trains). Writes under work/bench/memory/.
set -euo pipefail
cd "$(dirname "$0")/.."
A=${ARCHNET:-target/release/archnet}
KEY=${KEY:-work/keys/paper-mnist-mnist-s0.key}
OUT=work/bench/memory
mkdir -p "$OUT"
measure() { # LABEL COMMAND...: prints the label, wall time and peak RSS
  local label=$1; shift
  /usr/bin/time -f "$label: wall %e s, peak RSS %M KiB" "$@" > "$OUT/$label.log" 2>&1 || {
    cat "$OUT/$label.log"; return 1; }
  tail -n 1 "$OUT/$label.log"
}
for n in ${SIZES:-10000 60000}; do
  rm -rf "$OUT/enc-$n" "$OUT/model-$n"
  measure "encrypt-$n" "$A" encrypt --key "$KEY" --data ../shared/datasets/mnist --limit "$n" \
    --storage f16 --split 9:1 --out "$OUT/enc-$n"
  du -sh "$OUT/enc-$n" | sed "s/^/  size on disk: /"
  measure "train-cnn-1-epoch-$n" "$A" train --model cnn --data "$OUT/enc-$n" --epochs 1 --out "$OUT/model-$n"
  rm -rf "$OUT/enc-$n"
done
