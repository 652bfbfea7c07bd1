#!/usr/bin/env bash
# Measures what the README reports about the paper-mnist key: its reconstruction quality, the
# cost of f16/q8 storage, peak memory of encrypting all of MNIST's training set, and the two
# recipes at one budget. Needs ../shared/datasets and a release build; writes under work/.
#
#   cargo build --release
#   target/release/archnet key train --preset paper-mnist --data ../shared/datasets/mnist \
#       --out work/keys/paper-mnist.key --epochs 1 --checkpoint-every 100
#   bash scripts/measure-paper-mnist-key.sh > work/keys/measurements.txt 2>&1
set -euo pipefail
cd "$(dirname "$0")/.."
A=target/release/archnet
MNIST=../shared/datasets/mnist
KEY=work/keys/paper-mnist.key
OUT=work/measure
rm -rf "$OUT"; mkdir -p "$OUT"

echo "== key"
$A key info "$KEY"

for storage in f32 f16 q8; do
  echo "== storage $storage: the 10,000 MNIST test images"
  $A encrypt --key "$KEY" --data "$MNIST" --data-split test --split none --storage "$storage" --out "$OUT/test-$storage"
  du -sb "$OUT/test-$storage"
  $A decrypt --key "$KEY" --data "$OUT/test-$storage" --reference "$MNIST" --reference-split test --out "$OUT/dec-$storage"
  rm -rf "$OUT/dec-$storage"
done
rm -rf "$OUT"/test-*

echo "== peak memory: encrypting all 60,000 MNIST training images (f32)"
/usr/bin/time -v $A encrypt --key "$KEY" --data "$MNIST" --out "$OUT/train-full" 2>&1 \
  | grep -E "encrypted|samples in|storage|Maximum resident|Elapsed"
rm -rf "$OUT/train-full"

for recipe in paper fast; do
  echo "== recipe $recipe, 6,400 samples, batch 64"
  rm -rf "$OUT/recipe-$recipe.key" "$OUT/recipe-$recipe.key.ckpt"
  $A key train --preset paper-mnist --data "$MNIST" --recipe "$recipe" --max-samples 6400 \
    --eval-limit 1000 --out "$OUT/recipe-$recipe.key" | grep -E "trained|reconstruction"
  rm -rf "$OUT/recipe-$recipe.key" "$OUT/recipe-$recipe.key.ckpt"
done
