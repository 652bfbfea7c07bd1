"""A trainer for ``archnet node --trainer "python3 examples/pytorch_trainer.py"``: the node runs it
as ``CMD DATASET_DIR OUT.onnx``; it trains a small CNN with PyTorch on the leased training split
(ciphertexts) and exports it with torch.onnx. The node's owner keeps this code; only the ONNX
leaves the machine.

    python3 examples/pytorch_trainer.py DATASET_DIR OUT.onnx [--epochs 3]

Needs torch (``pip install './python[torch]'``).
"""

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader

import archnet


def model_for(shape, classes):
    c, h, w = shape
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), classes),
    )


def main():
    args = argparse.ArgumentParser()
    args.add_argument("dataset")
    args.add_argument("out")
    args.add_argument("--epochs", type=int, default=3)
    a = args.parse_args()
    data = archnet.EncryptedDataset(a.dataset, "train")
    shape = data.manifest["sample_shape"]
    model = model_for(shape, len(data.classes))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(a.epochs):
        total, right = 0, 0
        for x, y in DataLoader(data, batch_size=64, shuffle=True):
            optimiser.zero_grad()
            logits = model(x)
            nn.functional.cross_entropy(logits, y).backward()
            optimiser.step()
            total += len(y)
            right += (logits.argmax(1) == y).sum().item()
        print(f"epoch {epoch + 1}: train accuracy {100 * right / total:.2f}%")
    model.eval()
    torch.onnx.export(
        model, torch.zeros(1, *shape), a.out, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=13,
    )


if __name__ == "__main__":
    main()
