"""Independent NumPy float32 reference for the fused SGD-with-momentum kernel of @igm/core.

One step of IgmSgdMomentumUpdate per case, every operation a separate NumPy float32 ufunc (so
each is rounded to float32, never fused), in the order of the op chain
addDecayedWeights -> traceMomentum -> scaleByLearningRate:

    d    = g + theta * float32(wd)          (skipped when wd == 0: d = g)
    buf' = buf * float32(mu) + d
    out  = d + buf' * float32(mu) if nesterov else buf'
    u    = out * float32(-lr)

Inputs are float32 values (random normals; one case with a zero buffer, the first step of a key),
sizes that are and are not multiples of 4 and 8, and a scalar. The JSON keeps every value as the
exact decimal of its float32 (Python's repr of the widened double), so the tests compare bits.

Usage: /usr/bin/python3 tools/reference/core/sgd_momentum_kernel.py
Writes packages/core/test/fixtures/sgd-momentum-kernel.json.
"""

import json
import os

import numpy as np

rng = np.random.default_rng(20260117)

ATTRS = [
    dict(weightDecay=0.0, momentum=0.9, learningRate=0.1, nesterov=False),
    dict(weightDecay=5e-4, momentum=0.9, learningRate=0.01, nesterov=False),
    dict(weightDecay=5e-4, momentum=0.9, learningRate=0.01, nesterov=True),
    dict(weightDecay=0.0, momentum=0.5, learningRate=0.003, nesterov=True),
    dict(weightDecay=0.1, momentum=0.99, learningRate=1.7, nesterov=False),
    dict(weightDecay=1e-4, momentum=1.0, learningRate=0.0, nesterov=True),
]
SHAPES = [[], [1], [3], [4], [7], [2, 5], [8], [3, 3, 5], [3, 11]]


def f32(x):
    return np.asarray(x, dtype=np.float32)


def step(g, theta, buf, a):
    mu = np.float32(a["momentum"])
    d = g if a["weightDecay"] == 0 else np.add(g, np.multiply(theta, np.float32(a["weightDecay"])))
    nb = np.add(np.multiply(buf, mu), d)
    out = np.add(d, np.multiply(nb, mu)) if a["nesterov"] else nb
    u = np.multiply(out, np.float32(-a["learningRate"]))
    return nb, u


def values(x):
    return [float(v) for v in np.asarray(x, dtype=np.float32).reshape(-1)]


cases = []
for i, a in enumerate(ATTRS):
    for j, shape in enumerate(SHAPES):
        size = int(np.prod(shape)) if shape else 1
        g = f32(rng.normal(size=size))
        theta = f32(rng.normal(size=size) * 2)
        zero_buffer = (i + j) % 4 == 0
        buf = f32(np.zeros(size)) if zero_buffer else f32(rng.normal(size=size) * 0.5)
        nb, u = step(g, theta, buf, a)
        assert nb.dtype == np.float32 and u.dtype == np.float32
        cases.append(
            dict(
                shape=shape,
                attrs=a,
                gradient=values(g),
                param=values(theta),
                buffer=values(buf),
                nextBuffer=values(nb),
                update=values(u),
            )
        )

out = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "packages", "core", "test", "fixtures",
    "sgd-momentum-kernel.json",
)
with open(out, "w") as f:
    json.dump(
        dict(
            source="tools/reference/core/sgd_momentum_kernel.py (NumPy %s, float32 ufuncs)"
            % np.__version__,
            cases=cases,
        ),
        f,
    )
    f.write("\n")
print("wrote %d cases to %s" % (len(cases), os.path.normpath(out)))
