"""Checks an archnet-exported ONNX model with onnx's full checker and compares onnxruntime's
logits with tract's.

Usage: onnxruntime_check.py MODEL.onnx X.f32 TRACT_LOGITS.f32 C H W
(X and the logits are raw little-endian f32; N and K follow from the sizes.)
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort

model_path, x_path, logits_path = sys.argv[1:4]
c, h, w = (int(v) for v in sys.argv[4:7])

model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
assert [i.name for i in model.graph.input] == ["input"], model.graph.input
assert [o.name for o in model.graph.output] == ["logits"], model.graph.output

x = np.fromfile(x_path, dtype="<f4").reshape(-1, c, h, w)
expected = np.fromfile(logits_path, dtype="<f4").reshape(x.shape[0], -1)
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
got = session.run(["logits"], {"input": x})[0]
diff = float(np.max(np.abs(got - expected)))
print(f"onnx full check passed; onnxruntime vs tract max difference {diff:.2e}")
if not diff < 1e-4:
    sys.exit(f"onnxruntime and tract differ by {diff}")
