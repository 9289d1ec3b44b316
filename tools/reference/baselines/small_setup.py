"""A small deterministic setup shared by the OGR-GB, MSES and MSLR references (independent
PyTorch code, float64): a three-class, two-modality dataset served in a fixed order (the TF.js
tests serve the same arrays in the same order, so shuffling plays no part), encoders
Linear -> BatchNorm1d -> ReLU, Dense heads, and helpers to export weights under the TF.js keys.

TF.js keys: encoder/<m>/fc0/{kernel,bias}, encoder/<m>/bn0/{gamma,beta,moving_mean,
moving_variance}, head/<m>/dense_0/{kernel,bias}, fusion/dense_0/{kernel,bias}."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import linear_to_tf, tolist

C = 3
DIMS = {'audio': 4, 'visual': 5}
MODS = ['audio', 'visual']
SIZES = {'train': 12, 'validation': 6, 'test': 6}
BATCH = 4


def make_data(seed, signal=None, sizes=None):
    """x_m = 1.5 * pattern_m[y] + noise; modality m shows the true class with prob signal[m]."""
    signal = signal or {'audio': 0.9, 'visual': 0.5}
    g = torch.Generator().manual_seed(seed)
    patterns = {m: torch.randn(C, d, generator=g) for m, d in DIMS.items()}
    data = {}
    for split, n in (sizes or SIZES).items():
        y = torch.arange(n) % C
        xs = {}
        for m, d in DIMS.items():
            shown = torch.where(torch.rand(n, generator=g) < signal[m], y,
                                torch.randint(0, C, (n,), generator=g))
            xs[m] = 1.5 * patterns[m][shown] + torch.randn(n, d, generator=g)
        data[split] = (xs, y)
    return data


def batches(data, split, batch=BATCH, drop_last=None):
    """Fixed-order batches; the training split drops the last incomplete batch."""
    xs, y = data[split]
    n = len(y)
    drop = (split == 'train') if drop_last is None else drop_last
    out = []
    for s in range(0, n, batch):
        e = s + batch
        if e > n and drop:
            break
        out.append(({m: x[s:e] for m, x in xs.items()}, y[s:e]))
    return out


def data_json(data):
    return {split: {'inputs': {m: tolist(x) for m, x in xs.items()}, 'labels': y.tolist()}
            for split, (xs, y) in data.items()}


class Enc(nn.Module):
    def __init__(self, d_in, d_out=3):
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.bn = nn.BatchNorm1d(d_out)  # momentum 0.1, eps 1e-5, unbiased running variance

    def forward(self, x):
        return F.relu(self.bn(self.fc(x)))


def randomize(module, g, scale=0.6):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
        for mod in module.modules():
            if isinstance(mod, nn.BatchNorm1d):
                mod.weight.add_(1.0)


def enc_tf(m, enc):
    return {
        f'encoder/{m}/fc0/kernel': tolist(linear_to_tf(enc.fc.weight)),
        f'encoder/{m}/fc0/bias': tolist(enc.fc.bias),
        f'encoder/{m}/bn0/gamma': tolist(enc.bn.weight),
        f'encoder/{m}/bn0/beta': tolist(enc.bn.bias),
        f'encoder/{m}/bn0/moving_mean': tolist(enc.bn.running_mean),
        f'encoder/{m}/bn0/moving_variance': tolist(enc.bn.running_var),
    }


def dense_tf(prefix, lin):
    return {f'{prefix}/kernel': tolist(linear_to_tf(lin.weight)), f'{prefix}/bias': tolist(lin.bias)}


class Multitask(nn.Module):
    """Encoder + Dense head per modality and a Dense head on the concatenated features."""

    def __init__(self):
        super().__init__()
        self.enc = nn.ModuleDict({m: Enc(d) for m, d in DIMS.items()})
        self.head = nn.ModuleDict({m: nn.Linear(3, C) for m in MODS})
        self.fusion = nn.Linear(3 * len(MODS), C)

    def forward(self, xs, mods=MODS):
        f = {m: self.enc[m](xs[m]) for m in mods}
        out = {m: self.head[m](f[m]) for m in mods}
        if list(mods) == MODS:
            out['fused'] = self.fusion(torch.cat([f[m] for m in MODS], 1))
        return out

    def branch_params(self, k):
        if k == 'fused':
            return [*self.enc.parameters(), *self.fusion.parameters()]
        return [*self.enc[k].parameters(), *self.head[k].parameters()]

    def tf(self):
        out = {}
        for m in MODS:
            out.update(enc_tf(m, self.enc[m]))
            out.update(dense_tf(f'head/{m}/dense_0', self.head[m]))
        out.update(dense_tf('fusion/dense_0', self.fusion))
        return out


def ce(z, y):
    return F.cross_entropy(z, y)


def accuracy(z, y):
    return (z.argmax(1) == y).double().mean().item()
