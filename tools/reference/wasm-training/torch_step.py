"""PyTorch timings for packages/wasm-training/bench/training-step.ts (same models, same shapes).

Usage: /usr/bin/python3 torch_step.py THREADS [--resnet] [--only NAME,NAME]
Prints one JSON object: ms per training step (forward, backward, SGD) and matmul GFLOP/s, and
which BLAS library PyTorch's products ran on. `--only` times just the listed models (mlp, cnn,
resnet18, small_cnn; no matmul): packages/models/bench/encoder-step.ts compares @igm/models'
encoders with resnet18 and small_cnn (the same architectures, written out here).
Independent code: the ResNet-18 is written out here (torchvision is not installed).

Debian's python3-torch does its dense products (Linear layers, a @ b) through the system
libblas.so.3. With only the reference BLAS (libblas3) installed they run ~30x slower than with
OpenBLAS (a 1024 product: ~380 ms against ~12 ms here), which is not the PyTorch this bench
compares with: install libopenblas0-pthread (or put its libblas.so.3 first on LD_LIBRARY_PATH).
The "blas" field says which library was loaded; the bench refuses to call a reference-BLAS run
a comparison. OpenBLAS's pthread build starts one thread per core on its own, whatever
torch.set_num_threads says, so the thread count is also set through the environment, before
torch is imported: "1 thread" is one thread for every kernel.
"""
import json
import os
import sys
import time

threads = int(sys.argv[1])
with_resnet = "--resnet" in sys.argv
only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(threads)

import torch  # noqa: E402  (after the thread variables, which the libraries read when loaded)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_blas import blas_library  # noqa: E402  (tools/reference/torch_blas.py)

torch.set_num_threads(threads)
torch.manual_seed(0)


def time_step(model, x, y, steps, warmup=3):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    return measure(step, steps)


def measure(fn, steps):
    """Wall ms (min and median) and CPU ms (median) per call.

    This machine is shared, so wall time includes waiting for a core; CPU time does not. With one
    thread, time.thread_time() is the compute time of the step; with more, process CPU time is
    the sum over threads (an upper bound on the work, not a wall time).
    """
    cpu_clock = time.thread_time if threads == 1 else time.process_time
    walls, cpus = [], []
    for _ in range(steps):
        c0, t0 = cpu_clock(), time.perf_counter()
        fn()
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((cpu_clock() - c0) * 1000)
    walls.sort()
    cpus.sort()
    return {"wall_min": walls[0], "wall_median": walls[len(walls) // 2], "cpu_median": cpus[len(cpus) // 2]}


mlp = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
cnn = nn.Sequential(
    nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 32 * 64, 10),
)


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
        h = F.relu(self.b1(self.c1(x)))
        h = self.b2(self.c2(h))
        return F.relu(h + (x if self.down is None else self.down(x)))


def resnet18(cin=1, classes=6):
    layers = [nn.Conv2d(cin, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    c = 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [Block(c, cout, stride), Block(cout, cout, 1)]
        c = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers)


def small_cnn(cin=1, filters=(32, 64), classes=10):
    """@igm/models' smallCnn with a Linear head: per block conv 3x3 (pad 1, no bias), BN, ReLU,
    max-pool 2; global average pool."""
    layers = []
    c = cin
    for f in filters:
        layers += [nn.Conv2d(c, f, 3, 1, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(), nn.MaxPool2d(2)]
        c = f
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*layers)


def wanted(name, default):
    return name in only if only is not None else default


out = {"threads": threads, "torch": torch.__version__, "blas": blas_library()}
if wanted("mlp", True):
    out["mlp"] = time_step(mlp, torch.randn(64, 512), torch.randint(0, 10, (64,)), 50)
if wanted("cnn", True):
    out["cnn"] = time_step(cnn, torch.randn(16, 1, 64, 64), torch.randint(0, 10, (16,)), 10)
if wanted("small_cnn", False):
    out["small_cnn"] = time_step(small_cnn(), torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,)), 20)
if wanted("resnet18", with_resnet):
    out["resnet18"] = time_step(resnet18(), torch.randn(8, 1, 257, 188), torch.randint(0, 6, (8,)), 5, warmup=1)
if only is not None:
    print(json.dumps(out))
    sys.exit(0)
a = torch.randn(1024, 1024)
b = torch.randn(1024, 1024)
for _ in range(3):
    a @ b
out["matmul1024_ms"] = measure(lambda: a @ b, 10)
print(json.dumps(out))
