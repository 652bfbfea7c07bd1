#!/usr/bin/env bash
# Runs archnet's cargo-fuzz targets (fuzz/fuzz_targets/) one after another, each for
# ${FUZZ_SECONDS:-600} seconds, from seed corpora made of real files, and logs each run to
# work/fuzz/TARGET.log (libFuzzer's last status line has runs and coverage). Crashes land in
# fuzz/artifacts/TARGET/. Built with -O -a: optimised, with debug assertions and overflow checks
# on, so an overflow is a finding too. Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`).
#
#   scripts/fuzz.sh                 # every target
#   scripts/fuzz.sh tar_gz idx_reader
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-600}"
LOGS=work/fuzz
mkdir -p "$LOGS"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(idx_reader cifar_reader image_file tar_gz encrypted_manifest encrypted_shard onnx_loader key_file
        upload_chunks)
fi

seed() { # seed TARGET NAME < bytes
    mkdir -p "fuzz/corpus/$1"
    cat >"fuzz/corpus/$1/$2"
}

# Seeds from the MNIST sample committed in samples/ (and CIFAR-10 from ../shared when there).
python3 - <<'PY'
import gzip, io, os, pathlib, struct, tarfile, json
root = pathlib.Path("samples/mnist-sample")
corpus = pathlib.Path("fuzz/corpus")
def put(target, name, data):
    d = corpus / target; d.mkdir(parents=True, exist_ok=True); (d / name).write_bytes(data)
images = gzip.decompress((root / "train-images-idx3-ubyte.gz").read_bytes())
labels = gzip.decompress((root / "train-labels-idx1-ubyte.gz").read_bytes())
n = 8  # eight images: a real header and real pixels, small enough to mutate quickly
img = images[:4] + struct.pack(">I", n) + images[8:16] + images[16:16 + n * 784]
lab = labels[:4] + struct.pack(">I", n) + labels[8:8 + n]
put("idx_reader", "mnist-8", struct.pack("<I", len(img)) + img + lab)
# Two CIFAR-10 records (a label byte, then 3×32×32 bytes) from MNIST pixels, and four real ones
# from ../shared when it is there.
put("cifar_reader", "two-records", b"".join(bytes([i]) + (images[16 + i * 784:16 + i * 784 + 1024] * 3) for i in range(2)))
cifar = pathlib.Path("../shared/datasets/cifar-10-batches-bin/data_batch_1.bin")
if cifar.exists():
    put("cifar_reader", "cifar-4", cifar.read_bytes()[: 4 * 3073])
# A PNG and a tar.gz of PNGs, written by Python's zlib (no imaging library needed).
import zlib
def png(w, h, pixels):
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\x00" + pixels[y * w:(y + 1) * w] for y in range(h))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
digit = png(28, 28, images[16:16 + 784])
put("image_file", "mnist-digit.png", digit)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as tar:
    for i, cls in enumerate(["cat", "dog"]):
        info = tarfile.TarInfo(f"train/{cls}/{i}.png"); data = png(28, 28, images[16 + i * 784:16 + (i + 1) * 784])
        info.size = len(data); tar.addfile(info, io.BytesIO(data))
    link = tarfile.TarInfo("train/cat/link.png"); link.type = tarfile.SYMTYPE; link.linkname = "../../etc/passwd"
    tar.addfile(link)
    out = tarfile.TarInfo("../outside/x.png"); data = png(28, 28, images[16:16 + 784]); out.size = len(data)
    tar.addfile(out, io.BytesIO(data))
put("tar_gz", "two-classes-link-traversal.tar.gz", buf.getvalue())
manifest = {"format": "archnet-encrypted-dataset", "version": 1, "key_id": "0000fuzzfuzz0000",
    "key_preset": "auto", "plain_shape": [1, 28, 28], "sample_shape": [4, 56, 56], "storage": "q8",
    "class_names": [str(i) for i in range(10)], "source_fingerprint": "f", "created_at": "2026-12-06T00:00:00Z",
    "splits": {"train": {"count": 3, "source_offset": 0, "shards": [{"file": "train-00000.safetensors",
        "count": 3, "bytes": 100, "sha256": "0" * 64, "quantization": {"scale": [0.1] * 4, "offset": [0.0] * 4}}]}}}
put("encrypted_manifest", "q8.json", json.dumps(manifest).encode())
# A safetensors shard: x [2, 1, 1, 1] F32 and y [2] I64.
header = json.dumps({"x": {"dtype": "F32", "shape": [2, 1, 1, 1], "data_offsets": [0, 8]},
                     "y": {"dtype": "I64", "shape": [2], "data_offsets": [8, 24]}}).encode()
shard = struct.pack("<Q", len(header)) + header + struct.pack("<ff", 0.25, 0.75) + struct.pack("<qq", 0, 1)
put("encrypted_shard", "f32-1x1", b"\x00" + shard)
PY
# A real key file (a `private` key, 128 KB) written by archnet itself (ARCHNET=path/to/archnet
# to use a binary already built); the first byte of a
# key_file input says whether the target makes its key id right (1) or leaves it as is (0).
if [[ " ${targets[*]} " == *" key_file "* && ! -f fuzz/corpus/key_file/private-key ]]; then
    keydir="$(mktemp -d)"
    ${ARCHNET:-cargo run --quiet --} key train --preset private --data samples/mnist-sample --limit 64 \
        --max-samples 64 --eval-limit 0 --out "$keydir/key.safetensors" >/dev/null
    mkdir -p fuzz/corpus/key_file
    { printf '\000'; cat "$keydir/key.safetensors"; } >fuzz/corpus/key_file/private-key
    { printf '\001'; cat "$keydir/key.safetensors"; } >fuzz/corpus/key_file/private-key-true-id
    # Its header alone (no weights): mutations land in the metadata and the architecture.
    python3 -c 'import struct, sys; b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; sys.stdout.buffer.write(b"\x00" + b[:8 + n])' \
        "$keydir/key.safetensors" >fuzz/corpus/key_file/private-key-header
    # Its metadata JSON alone, which the target wraps in a weightless key file (mode 2), and the
    # same with the key id made right (mode 3), so the loader builds the architecture it names.
    python3 -c 'import json, struct, sys; b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; m = json.loads(b[8:8 + n])["__metadata__"]["archnet"].encode(); sys.stdout.buffer.write(b"\x02" + m); open(sys.argv[2], "wb").write(b"\x03" + m)' \
        "$keydir/key.safetensors" fuzz/corpus/key_file/private-key-metadata-true-id >fuzz/corpus/key_file/private-key-metadata
    rm -r "$keydir"
fi
# upload_chunks starts from nothing: its inputs are structured steps (announce, put, complete,
# any request) that libFuzzer's arbitrary decoding builds from whatever bytes it tries.
if [ -f crates/archnet-onnx/tests/data/pytorch-mnist-cnn.onnx ]; then
    seed onnx_loader pytorch-mnist-cnn.onnx < crates/archnet-onnx/tests/data/pytorch-mnist-cnn.onnx
fi

for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "fuzzing $t for $SECONDS_EACH s (log: $LOGS/$t.log)" >&2
    # Always fuzz/target, whatever CARGO_TARGET_DIR the shell has: the instrumented build is
    # its own (about 20 minutes from nothing on 2 cores) and must not mix with the workspace's.
    # A target with a dictionary (fuzz/dicts/TARGET.dict: the format's words and the numbers
    # where arithmetic breaks) gets it; blind byte flips rarely turn `"stride":1` into a 0.
    dict=()
    if [ -f "fuzz/dicts/$t.dict" ]; then dict=("-dict=dicts/$t.dict"); fi
    (cd fuzz && CARGO_TARGET_DIR="$PWD/target" cargo +nightly fuzz run -O -a "$t" "corpus/$t" -- \
        "${dict[@]}" -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1) \
        >"$LOGS/$t.log" 2>&1 || echo "$t: stopped with a finding or an error; see $LOGS/$t.log" >&2
    tail -n 3 "$LOGS/$t.log" >&2
done
