#!/usr/bin/env python3
"""Writes samples/mnist-sample/: the first 1,000 training and 200 test images of the official
MNIST files, as gzipped IDX files. Run from the repository root:

    python3 samples/make-mnist-sample.py ../shared/datasets/mnist samples/mnist-sample
"""
import gzip
import struct
import sys
from pathlib import Path

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
for prefix, count in (("train", 1000), ("t10k", 200)):
    images = gzip.decompress((src / f"{prefix}-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress((src / f"{prefix}-labels-idx1-ubyte.gz").read_bytes())
    _, _, rows, cols = struct.unpack(">IIII", images[:16])
    out_images = struct.pack(">IIII", 0x803, count, rows, cols) + images[16 : 16 + count * rows * cols]
    out_labels = struct.pack(">II", 0x801, count) + labels[8 : 8 + count]
    # mtime=0 keeps the output byte-identical across runs.
    (dst / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(out_images, mtime=0))
    (dst / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(out_labels, mtime=0))
