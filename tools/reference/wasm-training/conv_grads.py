"""Independent float64 reference for @igm/wasm-training's conv2d / matmul gradient kernels.

Writes packages/wasm-training/test/fixtures/conv-grads.json: inputs, forward outputs and the
gradients of L = sum(y * r) for
  - conv2d NHWC x [2, 9, 7, 3], filter [3, 2, 3, 4] (HWIO), strides (2, 1), 'valid' padding
  - conv2d NHWC x [2, 6, 5, 2], filter [3, 3, 2, 3], stride 1, explicit padding (1, 1)
  - matmul A^T B^T for A [7, 5], B [3, 7]
Computed with PyTorch in float64 (NCHW internally; inputs are generated here with a fixed seed).
Usage: /usr/bin/python3 tools/reference/wasm-training/conv_grads.py
"""
import json
import os

import torch

torch.manual_seed(7)
out = {}


def conv_case(name, xs, ws, stride, pad):
    x = torch.randn(*xs, dtype=torch.float64, requires_grad=True)  # NHWC
    w = torch.randn(*ws, dtype=torch.float64, requires_grad=True)  # HWIO
    y = torch.nn.functional.conv2d(
        x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1), stride=stride, padding=pad
    ).permute(0, 2, 3, 1)
    r = torch.randn(*y.shape, dtype=torch.float64)
    (y * r).sum().backward()
    out[name] = {
        "x": x.detach().flatten().tolist(), "xShape": list(xs),
        "w": w.detach().flatten().tolist(), "wShape": list(ws),
        "r": r.flatten().tolist(), "y": y.detach().flatten().tolist(), "yShape": list(y.shape),
        "dx": x.grad.flatten().tolist(), "dw": w.grad.flatten().tolist(),
        "strides": list(stride), "pad": pad,
    }


conv_case("stride21_valid", (2, 9, 7, 3), (3, 2, 3, 4), (2, 1), 0)
conv_case("stride1_pad1", (2, 6, 5, 2), (3, 3, 2, 3), (1, 1), 1)

a = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
b = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
y = a.T @ b.T
r = torch.randn(*y.shape, dtype=torch.float64)
(y * r).sum().backward()
out["matmul_tt"] = {
    "a": a.detach().flatten().tolist(), "b": b.detach().flatten().tolist(), "r": r.flatten().tolist(),
    "y": y.detach().flatten().tolist(), "da": a.grad.flatten().tolist(), "db": b.grad.flatten().tolist(),
}

path = os.path.join(os.path.dirname(__file__), "../../../packages/wasm-training/test/fixtures/conv-grads.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path))
