#!/usr/bin/env bash
# Produces the numbers and pictures of results/security.md: for each preset and dataset, a victim
# key, a look-alike key the attacker trains on public data, then the known-plaintext and the
# ciphertext-only attacks. Needs ../shared/datasets and a release build (`cargo build --release`);
# keys and logs go to work/ (git-ignored), pictures to results/. Resumable: finished steps are
# skipped, key training continues from its checkpoints.
#
#   bash scripts/security-tables.sh            # everything (≈ 2 h on 2 cores, most of it keys)
#   bash scripts/security-tables.sh auto       # only the rows whose name starts with `auto`
set -euo pipefail
cd "$(dirname "$0")/.."
A=${ARCHNET:-target/release/archnet}
D=../shared/datasets
K=work/keys
OUT=work/security
ONLY=${1:-}
mkdir -p "$K" "$OUT" results

# key OUT PRESET DATA SEED MAX_SAMPLES [extra key-train arguments]
key() {
  local out=$1 preset=$2 data=$3 seed=$4 max=$5; shift 5
  # Another process (an earlier run of this script) may still be training it.
  while pgrep -f -- "--out $out" >/dev/null; do sleep 30; done
  [ -f "$out" ] && return 0
  local resume=""; [ -d "$out.ckpt" ] && resume=--resume
  "$A" key train --preset "$preset" --data "$data" --seed "$seed" --max-samples "$max" \
    --eval-limit 2000 --checkpoint-every 50 --out "$out" $resume "$@" 2>&1 | tr '\r' '\n' | grep -v "^epoch"
}

. scripts/run-logged.sh

# attacks NAME VICTIM_KEY DATA LOOKALIKE_KEY PUBLIC_DATA PUBLIC_SPLIT
attacks() {
  local name=$1 victim=$2 data=$3 look=$4 public=$5 psplit=$6
  case "$name" in "$ONLY"*) ;; *) return 0 ;; esac
  run "$name-known-plaintext" "$A" attack known-plaintext --key "$victim" --data "$data" \
    --limit 10200 --victims 200 --pairs 10,100,1000,10000 --inverter-steps 1000 --judge-epochs 3 \
    --picture "results/security-$name-known-plaintext.png"
  run "$name-ciphertext-only" "$A" attack ciphertext-only --key "$victim" --data "$data" \
    --limit 10200 --victims 200 --judge-epochs 3 --lookalike "$look" --public-data "$public" \
    --public-split "$psplit" --picture "results/security-$name-ciphertext-only.png"
}

MNIST=$D/mnist; FASHION=$D/fashion-mnist; CIFAR=$D/cifar10-jpeg.tar.gz

# auto: small convolutional keys, 2 epochs on 10,000 images.
if [[ auto == "$ONLY"* || "$ONLY" == auto* ]]; then
  key $K/auto-mnist-s0.key auto $MNIST 0 20000 --limit 10000 --epochs 2
  key $K/auto-fashion-s1.key auto $FASHION 1 20000 --limit 10000 --epochs 2
  key $K/auto-cifar-s0.key auto $CIFAR 0 20000 --limit 10000 --epochs 2
  key $K/auto-cifar-test-s1.key auto $CIFAR 1 20000 --limit 10000 --epochs 2 --data-split test
fi
attacks auto-mnist $K/auto-mnist-s0.key $MNIST $K/auto-fashion-s1.key $FASHION train
attacks auto-fashion $K/auto-fashion-s1.key $FASHION $K/auto-mnist-s0.key $MNIST train
attacks auto-cifar $K/auto-cifar-s0.key $CIFAR $K/auto-cifar-test-s1.key $CIFAR test

# paper-mnist: Table 2's MNIST key (the 7,840 → 15,680 linear layer); the victim's key saw
# 30,000 MNIST images, the attacker's look-alike 15,000 Fashion-MNIST images (and vice versa).
if [[ paper-mnist == "$ONLY"* || "$ONLY" == paper-mnist* ]]; then
  key $K/paper-mnist-mnist-s0.key paper-mnist $MNIST 0 30000
  key $K/paper-mnist-fashion-s1.key paper-mnist $FASHION 1 15000
fi
attacks paper-mnist-mnist $K/paper-mnist-mnist-s0.key $MNIST $K/paper-mnist-fashion-s1.key $FASHION train
attacks paper-mnist-fashion $K/paper-mnist-fashion-s1.key $FASHION $K/paper-mnist-mnist-s0.key $MNIST train

# paper-cifar: Table 2's convolution-only CIFAR key; the look-alike is trained on the test split.
if [[ paper-cifar == "$ONLY"* || "$ONLY" == paper-cifar* ]]; then
  key $K/paper-cifar-cifar-s0.key paper-cifar $CIFAR 0 20000
  key $K/paper-cifar-cifar-test-s1.key paper-cifar $CIFAR 1 10000 --data-split test
fi
attacks paper-cifar $K/paper-cifar-cifar-s0.key $CIFAR $K/paper-cifar-cifar-test-s1.key $CIFAR test
