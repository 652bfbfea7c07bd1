#!/usr/bin/env bash
# Measures randomised encryption (fresh Gaussian noise on every ciphertext value) as a hardening:
# what the attack suite still recovers at N = 100 known pairs, and what it costs in accuracy
# (the Table 1 measure: AO on plain images, AE on noisy ciphertexts, EC = (AO − AE) / AO).
# Uses the `auto` MNIST key of scripts/security-tables.sh; cnn, 3 epochs on 9,000 of the first 10,000 training images (plain: all 10,000),
# accuracy on the 10,000 MNIST test images. Output in work/hardening/, one log per step.
#
#   bash scripts/security-tables.sh auto && bash scripts/hardening-noise.sh
set -euo pipefail
cd "$(dirname "$0")/.."
A=${ARCHNET:-target/release/archnet}
MNIST=../shared/datasets/mnist
KEY=work/keys/auto-mnist-s0.key
OUT=work/hardening
mkdir -p "$OUT"

RUN_TAIL=4
. scripts/run-logged.sh

run plain-train "$A" train --model cnn --data $MNIST --limit 10000 --epochs 3 --out $OUT/plain-model
run plain-eval "$A" evaluate --model $OUT/plain-model --data $MNIST --split test
for noise in ${NOISE_LEVELS:-0 0.5 1 2}; do
  run attack-$noise "$A" attack known-plaintext --key $KEY --data $MNIST --limit 10200 --victims 200 \
    --pairs 100 --inverter-steps 1000 --judge-epochs 3 --noise "$noise"
  [ -d $OUT/enc-train-$noise ] || "$A" encrypt --key $KEY --data $MNIST --limit 10000 --split 9:1 \
    --noise "$noise" --out $OUT/enc-train-$noise > /dev/null 2>&1
  [ -d $OUT/enc-test-$noise ] || "$A" encrypt --key $KEY --data $MNIST --data-split test --split none \
    --noise "$noise" --out $OUT/enc-test-$noise > /dev/null 2>&1
  run train-$noise "$A" train --model cnn --data $OUT/enc-train-$noise --epochs 3 --out $OUT/model-$noise
  run eval-$noise "$A" evaluate --model $OUT/model-$noise --data $OUT/enc-test-$noise --split train
done
