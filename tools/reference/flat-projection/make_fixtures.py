"""Independent float64 PyTorch reference for @igm/flat-projection
(docs/algorithms/igm.md#flat-projection-matrix, docs/algorithms/igm.md#projected-gradients,
docs/algorithms/mla.md#owm-head-projection).

Writes packages/flat-projection/test/fixtures/flat.json:
  - accumulator: batches of head-layer inputs -> Y = sum_b xbar_b^T xbar_b
  - matrices: Y (float32-representable) -> T via torch.linalg.eigh and via torch.svd(some=False)
    as the official code forms it (right singular vectors on both sides)
  - igm: two IGM-style steps of projected SGD with momentum and weight decay on a tiny
    text-image style head (the image head's extra first layer unprojected)
  - owm: the OWM recursion of MLA over a few modality steps, scalar and outer denominators

Run: /usr/bin/python3 tools/reference/flat-projection/make_fixtures.py
Everything is float64; inputs are rounded to float32 first so TF.js sees the same numbers.
"""

import json
import math
import os

import torch

torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(20250713)

OUT = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "packages", "flat-projection", "test", "fixtures", "flat.json"
)


def f32(t):
    """Round to float32 and back, so TF.js reads exactly these values."""
    return t.float().double()


def rnd(*shape):
    return torch.randn(*shape, generator=gen)


def tolist(t):
    return t.tolist()


# ---------------------------------------------------------------- T from Y (two forms)
def t_eigh(y, tau):
    s, v = torch.linalg.eigh(y)
    s = s.clamp(min=0)
    lo, hi = s.min(), s.max()
    if hi - lo <= 1e-12 * max(hi.item(), 1e-30):
        return torch.eye(y.shape[0])
    scale = torch.exp(-tau * (s - lo) / (hi - lo))
    return v @ torch.diag(scale) @ v.T


def t_svd(y, tau):
    # Official form: torch.svd(Y, some=False) -> (U, S, V), T = V diag(exp(...)) V^T.
    _, s, v = torch.svd(y, some=False)
    lo, hi = s.min(), s.max()
    if hi - lo <= 1e-12 * max(hi.item(), 1e-30):
        return torch.eye(y.shape[0])
    scale = torch.exp(tau * (-(s - lo) / (hi - lo)))
    return v @ torch.diag(scale) @ v.T


def second_moment(batches):
    """batches: list of [B, d] -> sum_b mean_b^T mean_b (no normalisation, no centring)."""
    d = batches[0].shape[1]
    y = torch.zeros(d, d)
    for x in batches:
        m = x.mean(0, keepdim=True)
        y = y + m.T @ m
    return y


def relu_features(n_b, batch, d, shift=0.3):
    """Post-ReLU-like features: batch means are dominated by a common mean direction."""
    return [f32(torch.relu(rnd(batch, d) + shift)) for _ in range(n_b)]


def matrix_case(name, n_b, batch, d, tau, kind="relu"):
    if kind == "relu":
        batches = relu_features(n_b, batch, d)
    else:
        batches = [f32(rnd(batch, d)) for _ in range(n_b)]
    y = f32(second_moment(batches))
    y = 0.5 * (y + y.T)
    te, ts = t_eigh(y, tau), t_svd(y, tau)
    s = torch.linalg.eigvalsh(y).clamp(min=0)
    return {
        "name": name,
        "tau": tau,
        "nB": n_b,
        "Y": tolist(y),
        "T": tolist(te),
        "Tsvd": tolist(ts),
        "eighVsSvdMaxAbs": (te - ts).abs().max().item(),
        "sMin": s.min().item(),
        "sMax": s.max().item(),
    }


def rank1_case(d, tau):
    v = f32(rnd(1, d))
    y = v.T @ v
    te, ts = t_eigh(y, tau), t_svd(y, tau)
    return {"name": f"rank1-d{d}", "tau": tau, "nB": 1, "Y": tolist(y), "T": tolist(te),
            "Tsvd": tolist(ts), "eighVsSvdMaxAbs": (te - ts).abs().max().item(),
            "direction": tolist(v[0] / v.norm()),
            "sMin": 0.0, "sMax": (v @ v.T).item()}


# ---------------------------------------------------------------- accumulator
acc_batches = [f32(rnd(4, 6)) for _ in range(5)]
accumulator = {
    "batches": [tolist(b) for b in acc_batches],
    "Y": tolist(second_moment(acc_batches)),
}

matrices = [
    matrix_case("relu-full-rank-d24", 40, 12, 24, 0.4),
    matrix_case("relu-rank-deficient-d32", 10, 12, 32, 0.4),
    matrix_case("gaussian-full-rank-d16-tau1.3", 30, 6, 16, 1.3),
    matrix_case("relu-full-rank-d96", 140, 12, 96, 0.4),
    matrix_case("relu-rank-deficient-d128", 60, 12, 128, 0.4),
    rank1_case(8, 0.4),
]


# ---------------------------------------------------------------- IGM two-step update
# Current modality "image": Dense(7->6) -> Dense(6->5) -> ReLU -> Dense(5->4) -> Dense(4->3)
# Previous modality "text":  Dense(6->5) -> ReLU -> Dense(5->4) -> Dense(4->3)
# Pairing by shape: image 1 <-> text 0, image 2 <-> text 1, image 3 <-> text 2; image 0 unprojected.
def linear(inp, out):
    bound = 1.0 / math.sqrt(inp)
    w = f32((torch.rand(out, inp, generator=gen) * 2 - 1) * bound)
    b = f32((torch.rand(out, generator=gen) * 2 - 1) * bound)
    return w, b


def head_forward(layers, relu_after, x):
    inputs = []
    h = x
    for i, (w, b) in enumerate(layers):
        inputs.append(h)
        h = h @ w.T + b
        if i in relu_after:
            h = torch.relu(h)
    return h, inputs


text_layers = [linear(6, 5), linear(5, 4), linear(4, 3)]
text_relu = {0}
image_layers = [linear(7, 6), linear(6, 5), linear(5, 4), linear(4, 3)]
image_relu = {1}
tau = 0.4
# Y of each text layer from one pass of 6 batches of 5 text features (inference mode).
text_batches = [f32(torch.relu(rnd(5, 6) + 0.2)) for _ in range(6)]
with torch.no_grad():
    text_inputs = [head_forward(text_layers, text_relu, x)[1] for x in text_batches]
text_y = [second_moment([inp[i] for inp in text_inputs]) for i in range(3)]
text_t = [t_eigh(y, tau) for y in text_y]
pair = {1: 0, 2: 1, 3: 2}

lr, momentum, wd = 0.1, 0.9, 1e-3
params = [(w.clone().requires_grad_(True), b.clone().requires_grad_(True)) for w, b in image_layers]
buffers = {}
image_batches = [(f32(rnd(5, 7)), torch.tensor([0, 2, 1, 2, 0])), (f32(rnd(5, 7)), torch.tensor([1, 1, 0, 2, 2]))]
for x, labels in image_batches:
    logits, _ = head_forward(params, image_relu, x)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    grads = torch.autograd.grad(loss, [p for layer in params for p in layer])
    with torch.no_grad():
        for li, (w, b) in enumerate(params):
            gw, gb = grads[2 * li], grads[2 * li + 1]
            if li in pair:
                gw = gw @ text_t[pair[li]]  # PyTorch layout: G_W <- G_W T
            for key, p, g in ((f"w{li}", w, gw), (f"b{li}", b, gb)):
                dp = g + wd * p  # decay after projection, never projected
                buffers[key] = dp.clone() if key not in buffers else momentum * buffers[key] + dp
                p -= lr * buffers[key]

igm = {
    "tau": tau,
    "lr": lr,
    "momentum": momentum,
    "weightDecay": wd,
    "textLayers": [{"kernel": tolist(w.T), "bias": tolist(b)} for w, b in text_layers],
    "textReluAfter": sorted(text_relu),
    "imageLayers": [{"kernel": tolist(w.T), "bias": tolist(b)} for w, b in image_layers],
    "imageReluAfter": sorted(image_relu),
    "textBatches": [tolist(x) for x in text_batches],
    "textY": [tolist(y) for y in text_y],
    "textT": [tolist(t) for t in text_t],
    "imageBatches": [{"x": tolist(x), "labels": labels.tolist()} for x, labels in image_batches],
    "expected": [{"kernel": tolist(w.detach().T), "bias": tolist(b.detach())} for w, b in params],
}


# ---------------------------------------------------------------- OWM (MLA)
def owm_run(denominator, normalize=True):
    d, c = 6, 3
    g2 = torch.Generator().manual_seed(7)
    features = {m: [f32(torch.randn(5, d, generator=g2)) for _ in range(3)] for m in ("audio", "visual")}
    grads = {m: [f32(torch.randn(d, c, generator=g2)) for _ in range(3)] for m in ("audio", "visual")}
    p = torch.eye(d)
    steps = []
    first = True
    n_batches = 3
    for batch in range(3):
        for m in ("audio", "visual"):
            g = grads[m][batch]  # TF layout [in, out]
            alpha = 0.1 ** (1 + batch / n_batches)
            if first:
                first = False
                steps.append({"modality": m, "batchIndex": batch, "alpha": alpha, "P": tolist(p),
                              "grad": tolist(g), "projected": tolist(g), "skipped": True})
                continue
            r = features[m][batch].mean(0, keepdim=True)  # 1 x d, constant
            k = p @ r.T  # d x 1
            if denominator == "scalar":
                p = p - (k @ k.T) / (alpha + (r @ k).item())
            else:
                p = p - (k @ k.T) / (alpha + k @ r)  # elementwise over the d x d outer product
            if normalize:
                p = p / torch.linalg.norm(p, "fro")
            projected = p @ g  # TF layout: G_K <- P G_K  (PyTorch: G_W <- G_W P^T)
            steps.append({"modality": m, "batchIndex": batch, "alpha": alpha, "P": tolist(p),
                          "grad": tolist(g), "projected": tolist(projected), "skipped": False})
    return {
        "denominator": denominator,
        "normalize": normalize,
        "batchesPerEpoch": n_batches,
        "features": {m: [tolist(x) for x in xs] for m, xs in features.items()},
        "steps": steps,
    }


owm = [owm_run("scalar"), owm_run("outer"), owm_run("scalar", normalize=False)]

fixture = {
    "generator": "tools/reference/flat-projection/make_fixtures.py (torch %s, float64)" % torch.__version__,
    "accumulator": accumulator,
    "matrices": matrices,
    "igm": igm,
    "owm": owm,
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as fh:
    json.dump(fixture, fh)
print("wrote", os.path.normpath(OUT))
for m in matrices:
    print(m["name"], "eigh vs svd max abs", m["eighVsSvdMaxAbs"], "sMin", m["sMin"], "sMax", m["sMax"])
