"""Makes pytorch-mnist-cnn.onnx, the test fixture for "ONNX from outside archnet".

Run once by hand from the repository root (needs torch, numpy; the output is committed):

    python3 crates/archnet-onnx/tests/data/make_pytorch_fixture.py

It trains a deliberately tiny CNN (about 8k weights, so the fixture is ~32 kB) on the 1,000
training images of samples/mnist-sample for 8 epochs, prints its accuracy on the 200 test
images, and exports it with PyTorch's TorchScript exporter (opset 17, a dynamic batch axis,
input and output names that are not archnet's, no archnet metadata).
"""
import gzip
import pathlib

import numpy as np
import torch
from torch import nn

ROOT = pathlib.Path("samples/mnist-sample")
OUT = pathlib.Path(__file__).with_name("pytorch-mnist-cnn.onnx")


def idx(name, offset):
    with gzip.open(ROOT / name) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def images(prefix):
    x = idx(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28) / 255.0
    y = idx(f"{prefix}-labels-idx1-ubyte.gz", 8)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)


torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 4, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(4 * 14 * 14, 10),
)
x, y = images("train")
optim = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(8):
    for i in torch.randperm(len(x)).split(32):
        optim.zero_grad()
        nn.functional.cross_entropy(model(x[i]), y[i]).backward()
        optim.step()
model.eval()
tx, ty = images("t10k")
with torch.no_grad():
    accuracy = (model(tx).argmax(1) == ty).float().mean().item()
print(f"test accuracy on the 200 sample images: {100 * accuracy:.2f}%")
torch.onnx.export(
    model,
    torch.zeros(1, 1, 28, 28),
    OUT,
    input_names=["image"],
    output_names=["scores"],
    dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}},
    opset_version=17,
    dynamo=False,
)
print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
