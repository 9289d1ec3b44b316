"""Independent PyTorch reference for IGM's steps (docs/algorithms/igm.md).

Writes packages/igm/test/fixtures/igm-steps.json: initial weights of a tiny two-modality model
(per modality: encoder Linear(d, 6) + ReLU; head Linear(6, 4) -> ReLU -> Linear(4, 3)), two
batches, fixed mixup draws (lambda, permutation), the T matrices of the previous modality's
head layers, and the weights and losses after
  - two official-variant steps (1.7) of modality "a" in a stage >= 1 (projection on), and
  - one paper-variant step (1.6: standard SAM, global norm, restore) of modality "a".
Everything in float64. Weights are written in TF.js layout (kernel = W^T, (in, out)); the
reference itself uses torch's (out, in) Linear layout and projects with G_W <- G_W T.

Run: /usr/bin/python3 tools/reference/igm/igm_steps_reference.py
"""

import json
import os

import torch

torch.manual_seed(7)
DT = torch.float64
B, C = 5, 3
DIMS = {"a": 5, "v": 4}
H, H2 = 6, 4

LR, MOM, WD = 0.1, 0.9, 0.01
TAU = 0.4
RHO_ENC, RHO_HEAD, BETA = 0.05, 0.02, 0.3  # visible rho for the official flat path
RHO_SAM = 0.05


def linear_init(out_dim, in_dim):
    bound = 1.0 / in_dim ** 0.5
    w = (torch.rand(out_dim, in_dim, dtype=DT) * 2 - 1) * bound
    b = (torch.rand(out_dim, dtype=DT) * 2 - 1) * bound
    return w, b


def init_params():
    p = {}
    for m, d in DIMS.items():
        p[f"{m}/enc/W"], p[f"{m}/enc/b"] = linear_init(H, d)
        p[f"{m}/head0/W"], p[f"{m}/head0/b"] = linear_init(H2, H)
        p[f"{m}/head1/W"], p[f"{m}/head1/b"] = linear_init(C, H2)
    return p


def head_logits(p, m, f):
    z = torch.relu(f @ p[f"{m}/head0/W"].T + p[f"{m}/head0/b"])
    return z @ p[f"{m}/head1/W"].T + p[f"{m}/head1/b"]


def encode(p, m, x):
    return torch.relu(x @ p[f"{m}/enc/W"].T + p[f"{m}/enc/b"])


def ce_per_sample(logits, y):
    return -torch.log_softmax(logits, dim=1).gather(1, y.view(-1, 1)).view(-1)


def t_matrix(y, tau):
    """T = V diag(exp(-tau (s - s_min)/(s_max - s_min))) V^T
    (docs/algorithms/igm.md#flat-projection-matrix)."""
    s, v = torch.linalg.eigh(y)
    s = torch.clamp(s, min=0)
    scale = torch.exp(-tau * (s - s.min()) / (s.max() - s.min()))
    return v @ torch.diag(scale) @ v.T


class Sgd:
    """torch.optim.SGD semantics written out: d = g + wd p; buf = d | mu buf + d; p -= lr buf."""

    def __init__(self):
        self.buf = {}

    def step(self, p, grads):
        for k, g in grads.items():
            d = g + WD * p[k]
            self.buf[k] = d.clone() if k not in self.buf else MOM * self.buf[k] + d
            p[k] = p[k] - LR * self.buf[k]


def keys_of(m):
    return [k for k in PARAMS0 if k.startswith(f"{m}/")]


def project(grads, m, T):
    out = dict(grads)
    for layer in ("head0", "head1"):
        k = f"{m}/{layer}/W"
        out[k] = grads[k] @ T[layer]  # torch layout: G_W <- G_W T
    return out


def official_step(p, opt, x, y, lam, perm, T):
    """The official-code step (docs/algorithms/igm.md#official-step) for modality a (stage >= 1:
    projection with the T of v)."""
    keys = keys_of("a")
    leaf = {k: p[k].clone().requires_grad_(True) for k in keys}
    xm = lam * x + (1 - lam) * x[perm]
    f = encode(leaf, "a", xm)
    o = head_logits(leaf, "a", f)
    l_ori = (lam * ce_per_sample(o, y) + (1 - lam) * ce_per_sample(o, y[perm])).mean()
    g = torch.autograd.grad(l_ori, [leaf[k] for k in keys], retain_graph=True)
    g = dict(zip(keys, g))
    eps = {}
    for k in keys:
        rho = RHO_HEAD if "/head" in k else RHO_ENC
        n = g[k].norm()
        eps[k] = rho * g[k] / n if n > 0 else torch.zeros_like(g[k])
    head_pert = {k: leaf[k] + eps[k] for k in keys if "/head" in k}
    o2 = head_logits({**leaf, **head_pert}, "a", f)  # head only, cached features f
    l_flat = ce_per_sample(o2, y).mean()  # unmixed labels
    loss = (1 - BETA) * l_ori + BETA * l_flat
    G = dict(zip(keys, torch.autograd.grad(loss, [leaf[k] for k in keys])))
    G = project(G, "a", T)
    for k in keys:
        p[k] = p[k] + eps[k]  # never undone
    opt.step(p, G)
    return float(l_ori), float(l_flat)


def paper_step(p, opt, x, y, T):
    """The paper step (docs/algorithms/igm.md#paper-step): standard SAM with restore, then
    projection and SGD."""
    keys = keys_of("a")

    def loss_at(q):
        leaf = {k: q[k].clone().requires_grad_(True) for k in keys}
        loss = ce_per_sample(head_logits(leaf, "a", encode(leaf, "a", x)), y).mean()
        return loss, dict(zip(keys, torch.autograd.grad(loss, [leaf[k] for k in keys])))

    l0, g = loss_at(p)
    norm = torch.sqrt(sum((g[k] ** 2).sum() for k in keys))
    e = {k: RHO_SAM * g[k] / (norm + 1e-12) for k in keys}
    _, G = loss_at({**p, **{k: p[k] + e[k] for k in keys}})
    G = project(G, "a", T)
    opt.step(p, G)
    return float(l0)


def tf_layout(p):
    out = {}
    for k, v in p.items():
        name = k.replace("/W", "/kernel").replace("/b", "/bias")
        out[name] = (v.T if k.endswith("/W") else v).tolist()
    return out


PARAMS0 = init_params()
batches = []
for _ in range(2):
    batches.append(
        {
            "x": {m: torch.randn(B, d, dtype=DT) for m, d in DIMS.items()},
            "y": torch.randint(0, C, (B,)),
        }
    )
draws = [
    {"lambda": 0.63, "perm": torch.tensor([2, 0, 4, 1, 3])},
    {"lambda": 0.27, "perm": torch.tensor([4, 3, 0, 2, 1])},
]
# T of v's head layers from random PSD second moments (rank < d for layer 0, as n_B < d can be).
Y0 = sum(torch.outer(r, r) for r in torch.rand(4, H, dtype=DT))
Y1 = sum(torch.outer(r, r) for r in torch.rand(6, H2, dtype=DT))
T = {"head0": t_matrix(Y0, TAU), "head1": t_matrix(Y1, TAU)}

official = {"steps": []}
p = {k: v.clone() for k, v in PARAMS0.items()}
opt = Sgd()
for b, dr in zip(batches, draws):
    l_ori, l_flat = official_step(p, opt, b["x"]["a"], b["y"], dr["lambda"], dr["perm"], T)
    official["steps"].append(
        {"lossOri": l_ori, "lossFlat": l_flat, "loss": (1 - BETA) * l_ori + BETA * l_flat, "params": tf_layout(p)}
    )

p = {k: v.clone() for k, v in PARAMS0.items()}
paper_loss = paper_step(p, Sgd(), batches[0]["x"]["a"], batches[0]["y"], T)
paper = {"loss": paper_loss, "params": tf_layout(p)}

fixture = {
    "description": "IGM official (1.7, two steps) and paper (1.6, one step) steps of modality a with the flat projection of v's T; float64 torch reference, TF.js layout",
    "config": {
        "lr": LR, "momentum": MOM, "weightDecay": WD, "tau": TAU,
        "rhoEncoder": RHO_ENC, "rhoHead": RHO_HEAD, "flatRatio": BETA, "rhoSam": RHO_SAM,
        "dims": DIMS, "hidden": [H, H2], "classes": C,
    },
    "params": tf_layout(PARAMS0),
    "batches": [
        {"x": {m: v.tolist() for m, v in b["x"].items()}, "y": b["y"].tolist()} for b in batches
    ],
    "draws": [{"lambda": d["lambda"], "perm": d["perm"].tolist()} for d in draws],
    "T": {"v/head0/kernel": T["head0"].tolist(), "v/head1/kernel": T["head1"].tolist()},
    "official": official,
    "paper": paper,
}
out = os.path.join(os.path.dirname(__file__), "../../../packages/igm/test/fixtures/igm-steps.json")
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as fh:
    json.dump(fixture, fh)
print("wrote", os.path.normpath(out))
