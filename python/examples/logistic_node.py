"""A whole compute node in numpy: lease one task, download its training split, fit a logistic
regression on the ciphertexts, write it as ONNX with onnx.helper, upload it, hand it in and wait
for the verdict. Prints the verdict as one line of JSON.

    python3 examples/logistic_node.py --server http://127.0.0.1:8750 --token TOKEN --work-dir work

Needs numpy, safetensors and onnx (``pip install ./python onnx``).
"""

import argparse
import json
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import archnet


def fit(x, y, classes, epochs=30, lr=0.5):
    """Multinomial logistic regression by gradient descent on standardised features."""
    n = len(x)
    flat = x.reshape(n, -1).astype(np.float64)
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    z = (flat - mean) / std
    w = np.zeros((z.shape[1], classes))
    b = np.zeros(classes)
    onehot = np.eye(classes)[y]
    for _ in range(epochs):
        logits = z @ w + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = (p - onehot) / n
        w -= lr * z.T @ grad
        b -= lr * grad.sum(0)
    # Fold the standardisation into the layer: (x - mean) / std @ w + b.
    w_x = w / std[:, None]
    b_x = b - (mean / std) @ w
    return w_x.astype(np.float32), b_x.astype(np.float32)


def to_onnx(w, b, sample_shape, key_id, class_names, path):
    """Flatten, then Gemm: input ``input`` [N, C, H, W], output ``logits`` [N, classes]."""
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
        ],
        "logistic",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *sample_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(class_names)])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {"archnet_key_id": key_id, "archnet_class_names": json.dumps(class_names)})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def main():
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--server", required=True)
    args.add_argument("--token", required=True)
    args.add_argument("--work-dir", default="archnet-python-node")
    args.add_argument("--wait", type=float, default=60, help="seconds to wait for a task")
    a = args.parse_args()
    node = archnet.Node(a.server, a.token)
    deadline = time.monotonic() + a.wait
    lease = node.lease()
    while lease is None and time.monotonic() < deadline:
        time.sleep(1)
        lease = node.lease()
    if lease is None:
        sys.exit("no task to lease")
    with node.heartbeats(lease) as beats:
        started = time.monotonic()
        folder = node.download(lease, a.work_dir)
        download_ms = 1000 * (time.monotonic() - started)
        started = time.monotonic()
        x, y, manifest = archnet.load_split(folder, "train")
        w, b = fit(x, y, len(manifest["class_names"]))
        model = f"{a.work_dir}/{lease.lease_id}.onnx"
        to_onnx(w, b, manifest["sample_shape"], manifest["key_id"], manifest["class_names"], model)
        train_ms = 1000 * (time.monotonic() - started)
        started = time.monotonic()
        upload_id = node.upload(model)
        upload_ms = 1000 * (time.monotonic() - started)
    if beats.error is not None:
        sys.exit(f"the lease was lost: {beats.error}")
    node.submit(lease, upload_id, download_ms, train_ms, upload_ms)
    verdict = node.wait(lease)
    print(json.dumps({"lease": lease.lease_id, "task": lease.task_id, "state": verdict["state"],
                      "accuracy": verdict.get("accuracy"), "balance": node.balance()}))


if __name__ == "__main__":
    main()
