"""Independent float64 PyTorch reference for @igm/sam (SAM / ASAM + SGD).

Writes packages/sam/test/fixtures/sam_mlp.json. Run with the system interpreter:

    /usr/bin/python3 tools/reference/sam/sam_reference.py

Model: Linear(4, 6) -> tanh -> Linear(6, 3), mean cross-entropy, 12 samples in 3 batches of 4.
Base optimizer: torch.optim.SGD(lr 0.1, momentum 0.9, weight_decay 1e-4), dampening 0, no
Nesterov (docs/algorithms/optimizers.md#sgd). The SAM step follows
docs/algorithms/sam.md#sam-update-rule:

    n   = || concat_p(T_p * g_p) ||          T_p = |p| for ASAM (1 for excluded biases), else 1
    e_p = rho_p * T_p^2 * g_p / (n + 1e-12)  (per-variable: n_p = ||T_p * g_p||)
    p  <- p + e_p; recompute gradients; p <- saved p (if restore); SGD step with those gradients

Kernels are written in the TF.js (in, out) layout, i.e. the transpose of torch's (out, in).
Before writing, check_quadratic() verifies the perturbation against the closed form on 0.5 w^T A w.
"""

import json
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "..", "packages", "sam", "test", "fixtures", "sam_mlp.json")

KEYS = ["dense1/kernel", "dense1/bias", "dense2/kernel", "dense2/bias"]
GROUPS = {"dense1/kernel": "encoder", "dense1/bias": "encoder", "dense2/kernel": "head", "dense2/bias": "head"}
LR, MOMENTUM, WD = 0.1, 0.9, 1e-4


def make_data():
    rs = np.random.RandomState(20210511)
    x = rs.randn(12, 4)
    y = rs.randint(0, 3, size=12)
    w1 = rs.uniform(-0.5, 0.5, size=(6, 4))  # torch layout (out, in)
    b1 = rs.uniform(-0.5, 0.5, size=(6,))
    w2 = rs.uniform(-0.5, 0.5, size=(3, 6))
    b2 = rs.uniform(-0.5, 0.5, size=(3,))
    return x, y, [w1, b1, w2, b2]


class Mlp(torch.nn.Module):
    def __init__(self, init):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 6)
        self.fc2 = torch.nn.Linear(6, 3)
        with torch.no_grad():
            for p, v in zip(self.ordered(), init):
                p.copy_(torch.tensor(v))

    def ordered(self):
        return [self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias]

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def to_tfjs(key, t):
    a = t.detach().numpy()
    return (a.T if key.endswith("kernel") else a).tolist()


def sam_perturbation(params, keys, rho, rho_by_group, adaptive, normalize, exclude_bias):
    """e_p for every parameter, from the gradients currently stored in p.grad."""
    scales = []
    for key, p in zip(keys, params):
        scaled_metric = adaptive and not (exclude_bias and key.endswith("bias"))
        scales.append(p.detach().abs() if scaled_metric else torch.ones_like(p))
    norms = [torch.linalg.vector_norm(s * p.grad) for s, p in zip(scales, params)]
    global_norm = torch.linalg.vector_norm(torch.stack(norms))
    es = []
    for key, p, s, n in zip(keys, params, scales, norms):
        r = rho_by_group.get(GROUPS.get(key, ""), rho)
        denom = (global_norm if normalize == "global" else n) + 1e-12
        es.append(r * s * s * p.grad / denom)
    return es, global_norm.item()


def run(cfg, x, y, init, steps=3):
    model = Mlp(init)
    params = model.ordered()
    opt = torch.optim.SGD(params, lr=LR, momentum=MOMENTUM, weight_decay=WD)
    xt, yt = torch.tensor(x), torch.tensor(y)
    record = {"losses": [], "grad_norms": [], "weights": []}
    for step in range(steps):
        xb, yb = xt[4 * step : 4 * step + 4], yt[4 * step : 4 * step + 4]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        record["losses"].append(loss.item())
        grads = [p.grad.detach().clone() for p in params]
        with torch.no_grad():
            es, gnorm = sam_perturbation(
                params, KEYS, cfg["rho"], cfg.get("rhoByGroup", {}), cfg["adaptive"], cfg["normalize"], cfg["excludeBias"]
            )
            saved = [p.detach().clone() for p in params]
            for p, e in zip(params, es):
                p.add_(e)
        record["grad_norms"].append(gnorm)
        opt.zero_grad()
        perturbed_loss = torch.nn.functional.cross_entropy(model(xb), yb)
        perturbed_loss.backward()
        if cfg["restore"]:
            with torch.no_grad():
                for p, s in zip(params, saved):
                    p.copy_(s)
        if step == 0:
            record["grad0"] = {k: to_tfjs(k, g) for k, g in zip(KEYS, grads)}
            record["e0"] = {k: to_tfjs(k, e) for k, e in zip(KEYS, es)}
            record["samGrad0"] = {k: to_tfjs(k, p.grad) for k, p in zip(KEYS, params)}
            record["perturbedLoss0"] = perturbed_loss.item()
        opt.step()
        record["weights"].append({k: to_tfjs(k, p) for k, p in zip(KEYS, params)})
    return record


CONFIGS = {
    "sam": {"rho": 0.05, "adaptive": False, "normalize": "global", "restore": True, "excludeBias": False},
    "asam": {"rho": 2.0, "adaptive": True, "normalize": "global", "restore": True, "excludeBias": False},
    "asamExcludeBias": {"rho": 1.0, "adaptive": True, "normalize": "global", "restore": True, "excludeBias": True},
    "samPerVariable": {"rho": 0.05, "adaptive": False, "normalize": "per-variable", "restore": True, "excludeBias": False},
    "samNoRestore": {"rho": 0.05, "adaptive": False, "normalize": "global", "restore": False, "excludeBias": False},
    "samRhoByGroup": {
        "rho": 0.05,
        "rhoByGroup": {"encoder": 0.1, "head": 0.02},
        "adaptive": False,
        "normalize": "per-variable",
        "restore": True,
        "excludeBias": False,
    },
}


def check_quadratic():
    """Self-check of sam_perturbation on L = 0.5 w^T A w: the SAM gradient is A (w + rho A w / ||A w||)."""
    a = torch.tensor([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    w0 = torch.tensor([1.0, -2.0, 0.5])
    for adaptive in (False, True):
        w = w0.clone().requires_grad_(True)
        (0.5 * w @ a @ w).backward()
        with torch.no_grad():
            (e,), _ = sam_perturbation([w], ["w/kernel"], 0.3, {}, adaptive, "global", False)
        g = a @ w0
        t = w0.abs() if adaptive else torch.ones(3)
        expected_e = 0.3 * t * t * g / torch.linalg.vector_norm(t * g)
        assert torch.allclose(e, expected_e, atol=1e-14), (adaptive, e, expected_e)
        w2 = (w0 + e).requires_grad_(True)
        (0.5 * w2 @ a @ w2).backward()
        assert torch.allclose(w2.grad, a @ (w0 + expected_e), atol=1e-14)


def main():
    check_quadratic()
    x, y, init = make_data()
    out = {
        "description": "SAM/ASAM + SGD(lr 0.1, momentum 0.9, wd 1e-4) on a 4-6-3 tanh MLP, float64 PyTorch "
        + torch.__version__
        + "; kernels in TF.js (in, out) layout; step i uses samples 4i..4i+3",
        "sgd": {"learningRate": LR, "momentum": MOMENTUM, "weightDecay": WD},
        "x": x.tolist(),
        "y": y.tolist(),
        "groups": GROUPS,
        "init": {k: (v.T if k.endswith("kernel") else v).tolist() for k, v in zip(KEYS, init)},
        "cases": {},
    }
    for name, cfg in CONFIGS.items():
        out["cases"][name] = {"config": cfg, **run(cfg, x, y, init)}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
