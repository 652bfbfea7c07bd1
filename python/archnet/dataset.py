"""The encrypted dataset format of docs/encrypted-format.md: a manifest and safetensors shards."""

import hashlib
import json
import pathlib

import numpy as np
from safetensors.numpy import load_file

FORMAT = "archnet-encrypted-dataset"
VERSION = 1


def read_manifest(folder):
    """The folder's ``manifest.json``, checked to be an archnet encrypted dataset (version 1)."""
    path = pathlib.Path(folder) / "manifest.json"
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(f"{path}: not an archnet encrypted dataset of version {VERSION}")
    return manifest


def _shard(folder, manifest, shard):
    """One shard's samples as float32 NCHW, and its labels (or None); its sha256 is checked."""
    path = pathlib.Path(folder) / shard["file"]
    if pathlib.Path(shard["file"]).name != shard["file"]:
        raise ValueError(f"{shard['file']!r}: a shard must be a plain file name")
    if hashlib.sha256(path.read_bytes()).hexdigest() != shard["sha256"]:
        raise ValueError(f"{path}: checksum mismatch")
    tensors = load_file(str(path))
    x = tensors["x"].astype(np.float32)
    if manifest["storage"] == "q8":
        q = shard["quantization"]
        offset = np.asarray(q["offset"], np.float32)[None, :, None, None]
        scale = np.asarray(q["scale"], np.float32)[None, :, None, None]
        x = offset + scale * x
    return x, tensors.get("y")


def load_split(folder, split="train"):
    """All samples of ``split`` as ``(x, y, manifest)``: x float32 ``[N, C, H, W]``, y int64 ``[N]``
    (None when unlabeled). Every shard's sha256 is checked against the manifest."""
    manifest = read_manifest(folder)
    if split not in manifest["splits"]:
        raise KeyError(f"{folder}: no split {split!r} (it has {sorted(manifest['splits'])})")
    xs, ys = [], []
    for shard in manifest["splits"][split]["shards"]:
        x, y = _shard(folder, manifest, shard)
        xs.append(x)
        if y is not None:
            ys.append(y)
    shape = [0] + list(manifest["sample_shape"])
    x = np.concatenate(xs) if xs else np.zeros(shape, np.float32)
    y = np.concatenate(ys) if ys else None
    return x, y, manifest


try:  # torch is optional
    from torch.utils.data import Dataset as _Base
except ImportError:  # pragma: no cover - depends on the machine
    _Base = object


class EncryptedDataset(_Base):
    """One split of an encrypted dataset in memory, indexable as ``(x, y)`` pairs: a
    ``torch.utils.data.Dataset`` (x a float32 tensor, y an int64 scalar) when torch is installed,
    numpy arrays otherwise."""

    def __init__(self, folder, split="train"):
        self.x, self.y, self.manifest = load_split(folder, split)
        if self.y is None:
            raise ValueError(f"{folder}: split {split!r} has no labels")
        self.classes = list(self.manifest["class_names"])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        if _Base is object:
            return self.x[i], self.y[i]
        import torch

        return torch.from_numpy(self.x[i]), torch.tensor(int(self.y[i]))
