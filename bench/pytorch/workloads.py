#!/usr/bin/env python3
"""The PyTorch reference of `archnet bench workload`: the same workloads, layer for layer, at the
same batch sizes, on the same kind of synthetic inputs, with the thread count pinned.

    python3 bench/pytorch/workloads.py NAME [--batch-size 64] [--warmup 2] [--steps 10]
        [--threads N] [--onnx MODEL.onnx]

Prints one JSON line like archnet's. Layers mirror crates/archnet-model (arch.rs presets: 3x3
convolutions with padding 1, 2x2 stride-2 transposed convolution / convolution to double / halve;
base/cnn.rs; base/resnet.rs: 3x3 stem, no max-pool, basic blocks, batch norm).
"""
import argparse
import json
import resource
import sys
import time

import numpy as np

WORKLOADS = [
    "key-train-paper-mnist",
    "key-train-paper-cifar",
    "encrypt-paper-mnist",
    "train-cnn-encrypted",
    "train-resnet18-encrypted",
    "train-resnet18-cifar",
    "train-resnet18-table1",
    "validate-onnx-cnn",
    "validate-onnx-resnet18",
    "validate-onnx-cnn-onnxruntime",
    "validate-onnx-resnet18-onnxruntime",
    "validate-sandboxed-cnn",
    "validate-sandboxed-cnn-onnxruntime",
]
CIPHER_SHAPE = (10, 56, 56)
CIFAR_SHAPE = (3, 32, 32)
PAPER_CIFAR_CIPHER_SHAPE = (10, 64, 64)  # a paper-cifar ciphertext: Table 1's ArchNet arm


def synthetic(n):
    # The same fixed pattern as archnet's synthetic_batch.
    i = np.arange(n, dtype=np.int64)
    return ((i * 7919) % 1000).astype(np.float32) / 1000.0


def key_layers(torch, preset):
    nn = torch.nn

    def conv(cin, cout, relu=False):
        layers = [nn.Conv2d(cin, cout, 3, padding=1)]
        return layers + ([nn.ReLU()] if relu else [])

    def halve(cin, cout, relu=False):
        return [nn.Conv2d(cin, cout, 2, stride=2)] + ([nn.ReLU()] if relu else [])

    def double(cin, cout):
        return [nn.ConvTranspose2d(cin, cout, 2, stride=2)]

    def paper_decoder(out):
        return (halve(10, 10) + conv(10, 30) + conv(30, 10) + conv(10, 10) + conv(10, 10, True)
                + conv(10, 5) + conv(5, 3, True) + conv(3, out))

    class Reshape(nn.Module):
        def __init__(self, shape):
            super().__init__()
            self.shape = shape

        def forward(self, x):
            return x.reshape(x.shape[0], *self.shape)

    if preset == "paper-mnist":
        encoder = (conv(1, 3) + conv(3, 10) + conv(10, 10)
                   + [nn.Flatten(), nn.Linear(7840, 15680), nn.ReLU(), Reshape((20, 28, 28))]
                   + conv(20, 20) + double(20, 10))
        return nn.Sequential(*encoder), nn.Sequential(*paper_decoder(1)), (1, 28, 28)
    if preset == "paper-cifar":
        encoder = conv(3, 3) + conv(3, 10) + conv(10, 20) + conv(20, 20) + double(20, 10)
        return nn.Sequential(*encoder), nn.Sequential(*paper_decoder(3)), (3, 32, 32)
    raise ValueError(preset)


def cnn(torch, channels, classes):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(7), nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, classes))


def resnet18(torch, channels, classes):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return torch.relu(y + (self.down(x) if self.down is not None else x))

    layers = [nn.Conv2d(channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for stage, width in enumerate([64, 128, 256, 512]):
        for i in range(2):
            layers.append(Block(cin, width, 2 if stage > 0 and i == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers)


def adam_step(torch, model, loss_fn, x, target):
    """One training step as archnet's: forward, loss, backward, Adam (lr 1e-3, eps 1e-8)."""
    optim = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)

    def step():
        optim.zero_grad()
        loss_fn(model(x), target).backward()
        optim.step()
    return step


def timed(step, warmup, steps):
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def run(args):
    if args.name.startswith("validate-sandboxed-"):
        # The server's sandboxed path starts a process per validation: so does the reference,
        # one fresh Python with onnxruntime per step (start-up, import, session, one batch).
        import subprocess
        child = (
            "import sys, numpy as np, onnxruntime as ort\n"
            "o = ort.SessionOptions(); o.intra_op_num_threads = int(sys.argv[2]); o.inter_op_num_threads = 1\n"
            "s = ort.InferenceSession(sys.argv[1], o, providers=['CPUExecutionProvider'])\n"
            "n = int(sys.argv[3]); shape = (n,) + tuple(int(v) for v in sys.argv[4].split(','))\n"
            "i = np.arange(int(np.prod(shape)), dtype=np.int64)\n"
            "x = (((i * 7919) % 1000).astype(np.float32) / 1000.0).reshape(shape)\n"
            "s.run(None, {s.get_inputs()[0].name: x})\n"
        )
        argv = [sys.executable, "-c", child, args.onnx, str(args.threads), str(args.batch_size),
                ",".join(str(d) for d in CIPHER_SHAPE)]
        step = lambda: subprocess.run(argv, check=True)
        return "onnxruntime, a process per step", timed(step, args.warmup, args.steps)

    if args.name.startswith("validate-onnx-"):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        x = synthetic(args.batch_size * int(np.prod(CIPHER_SHAPE))).reshape(args.batch_size, *CIPHER_SHAPE)
        return "onnxruntime", timed(lambda: session.run(None, {name: x}), args.warmup, args.steps)

    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b = args.batch_size
    if args.name.startswith("key-train-"):
        encoder, decoder, shape = key_layers(torch, args.name[len("key-train-"):])
        model = torch.nn.Sequential(encoder, decoder)
        x = torch.from_numpy(synthetic(b * int(np.prod(shape))).reshape(b, *shape))
        step = adam_step(torch, model, torch.nn.BCEWithLogitsLoss(), x, x)
    elif args.name == "encrypt-paper-mnist":
        encoder, _, shape = key_layers(torch, "paper-mnist")
        x = torch.from_numpy(synthetic(b * 784).reshape(b, 1, 28, 28))

        def step():
            with torch.no_grad():
                encoder(x).numpy()
    elif args.name in ("train-cnn-encrypted", "train-resnet18-encrypted", "train-resnet18-cifar",
                       "train-resnet18-table1"):
        build = cnn if "cnn" in args.name else resnet18
        shape = {"train-resnet18-cifar": CIFAR_SHAPE,
                 "train-resnet18-table1": PAPER_CIFAR_CIPHER_SHAPE}.get(args.name, CIPHER_SHAPE)
        model = build(torch, shape[0], 10)
        x = torch.from_numpy(synthetic(b * int(np.prod(shape))).reshape(b, *shape))
        step = adam_step(torch, model, torch.nn.CrossEntropyLoss(), x, torch.arange(b) % 10)
    else:
        raise SystemExit(f"unknown workload {args.name} (known: {', '.join(WORKLOADS)})")
    return f"pytorch {torch.__version__}", timed(step, args.warmup, args.steps)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--onnx")
    args = p.parse_args()
    engine, seconds = run(args)
    samples = args.batch_size * args.steps
    print(json.dumps({
        "workload": args.name,
        "engine": engine,
        "batch_size": args.batch_size,
        "samples": samples,
        "seconds": seconds,
        "samples_per_second": samples / max(seconds, 1e-9),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": args.threads,
    }))


if __name__ == "__main__":
    sys.exit(main())
