"""Shared helpers of the @igm/baselines reference scripts (independent PyTorch code)."""
import json
import os

import torch

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'packages', 'baselines', 'test', 'fixtures')
torch.set_default_dtype(torch.float64)


def tolist(t):
    return t.detach().cpu().double().tolist()


def conv_to_tf(w):
    """PyTorch conv weight (O, I, kh, kw) -> TF.js kernel (kh, kw, I, O)."""
    return w.permute(2, 3, 1, 0)


def linear_to_tf(w):
    """PyTorch Linear weight (out, in) -> TF.js kernel (in, out)."""
    return w.t()


def write(name, data):
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, name)
    with open(path, 'w') as f:
        json.dump(data, f)
    print('wrote', os.path.normpath(path))


class Sgd:
    """torch.optim.SGD semantics (dampening 0): d = g + wd p; buf = d | mu buf + d; p -= lr buf."""

    def __init__(self, params, lr, momentum=0.0, wd=0.0):
        self.params, self.lr, self.mu, self.wd = list(params), lr, momentum, wd
        self.buf = {}

    @torch.no_grad()
    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            d = p.grad + self.wd * p
            if self.mu > 0:
                self.buf[i] = d.clone() if i not in self.buf else self.mu * self.buf[i] + d
                d = self.buf[i]
            p -= self.lr * d
