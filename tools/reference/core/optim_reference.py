"""Independent PyTorch reference for @igm/core optimizers and schedules.

Runs torch.optim.SGD / Adam / AdamW in float64 on three small parameters over 5 steps with a
fixed gradient sequence, where parameter "b" gets no gradient (p.grad = None) in steps 1 and 3
(0-based) and parameter "c" first gets a gradient in step 2. Records the parameters after every
step and the final optimizer state, plus per-epoch learning rates of torch lr_schedulers.

Usage: /usr/bin/python3 tools/reference/core/optim_reference.py
Writes packages/core/test/fixtures/optim.json.
"""

import json
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

STEPS = 5
SHAPES = {"a": [2, 3], "b": [3], "c": [2]}


def has_grad(key, step):
    if key == "b":
        return step not in (1, 3)
    if key == "c":
        return step >= 2
    return True


rng = np.random.default_rng(20251127)
init = {k: rng.normal(size=s).tolist() for k, s in SHAPES.items()}
grads = [
    {k: (rng.normal(size=s).tolist() if has_grad(k, t) else None) for k, s in SHAPES.items()}
    for t in range(STEPS)
]

CONFIGS = {
    "sgd_momentum": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=False, weight_decay=1e-4)),
    "sgd_nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    "sgd_plain": ("SGD", dict(lr=0.1, momentum=0.0, weight_decay=1e-4)),
    "adam": ("Adam", dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-4)),
    "adamw": ("AdamW", dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)),
}

STATE_NAMES = {"momentum_buffer": "buf", "exp_avg": "m", "exp_avg_sq": "v", "step": "count"}


def run(kind, kwargs):
    params = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
    opt = getattr(torch.optim, kind)(list(params.values()), **kwargs)
    history = []
    for t in range(STEPS):
        for k, p in params.items():
            g = grads[t][k]
            p.grad = None if g is None else torch.tensor(g)
        opt.step()
        history.append({k: p.detach().tolist() for k, p in params.items()})
    state = {}
    for k, p in params.items():
        st = opt.state.get(p, {})
        for name, value in st.items():
            if name not in STATE_NAMES or value is None:
                continue
            v = value.item() if torch.is_tensor(value) and value.dim() == 0 else value
            state[f"{k}/{STATE_NAMES[name]}"] = v.tolist() if torch.is_tensor(v) else float(v)
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    return {"optimizer": kind, "config": cfg, "params": history, "state": state}


def lr_per_epoch(make, epochs, step_before=False):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(opt)
    out = []
    for _ in range(epochs):
        if step_before:
            sched.step()
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if not step_before:
            sched.step()
    return out


S = torch.optim.lr_scheduler
schedules = {
    "stepLR": {"initial": 0.1, "stepSize": 3, "gamma": 0.1,
               "lr": lr_per_epoch(lambda o: S.StepLR(o, 3, 0.1), 10)},
    "stepLR_before": {"initial": 0.1, "stepSize": 3, "gamma": 0.1,
                      "lr": lr_per_epoch(lambda o: S.StepLR(o, 3, 0.1), 10, step_before=True)},
    "multiStep": {"initial": 0.1, "milestones": [2, 5, 7], "gamma": 0.5,
                  "lr": lr_per_epoch(lambda o: S.MultiStepLR(o, [2, 5, 7], 0.5), 10)},
    "cosine": {"initial": 0.1, "tMax": 5, "etaMin": 0.001,
               "lr": lr_per_epoch(lambda o: S.CosineAnnealingLR(o, 5, 0.001), 16)},
}

out = {
    "torch": torch.__version__,
    "steps": STEPS,
    "init": init,
    "grads": grads,
    "optimizers": {name: run(kind, kw) for name, (kind, kw) in CONFIGS.items()},
    "schedules": schedules,
}
path = os.path.join(os.path.dirname(__file__), "../../../packages/core/test/fixtures/optim.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))
