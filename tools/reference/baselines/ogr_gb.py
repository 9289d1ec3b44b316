"""OGR-GB reference: online Gradient-Blending on the small setup, two scenarios.

'paper': multitask model (encoder + Dense head per modality, Dense head on the concatenation);
  every super-epoch of n = 2 epochs (epochs 0 and 2 of a 4-epoch run), each branch k in
  {audio, visual, fused} is trained from a deep copy of the model (weights and BatchNorm buffers)
  for n epochs with a fresh SGD at the initial lr, on CE(z_k) only; T/V are mean CEs in inference
  mode before and after; dG = V0 - V1, dO = (V1 - T1) - (V0 - T0), w~ = |dG| / (dO^2 + 1e-8),
  w = w~ / sum. Main training: SGD on sum_k w_k CE(z_k), StepLR(2, 0.5) after each epoch.
'balance-benchmark': concat model, unimodal logits = weight slice + b/M; branch m = fused output
  with the other inputs zeroed, every parameter in the scratch SGD; T0/T1 = sums of the running
  training losses of scratch epochs 0 and n-1, V0/V1 = sums of validation batch-mean CEs after
  them (validation batches of 4); 2 epochs, n = 2."""
import copy

import torch
import torch.nn as nn

from common import Sgd, write
from small_setup import (BATCH, C, DIMS, MODS, Enc, Multitask, accuracy, batches, ce, data_json,
                         dense_tf, enc_tf, make_data, randomize)

EPS = 1e-8
LR, MOM, WD = 0.1, 0.9, 1e-4


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.ModuleDict({m: Enc(d) for m, d in DIMS.items()})
        self.fusion = nn.Linear(3 * len(MODS), C)

    def forward(self, xs, zeroed=()):
        f = {m: self.enc[m](torch.zeros_like(xs[m]) if m in zeroed else xs[m]) for m in MODS}
        out, row = {}, 0
        for m in MODS:
            out[m] = f[m] @ self.fusion.weight[:, row:row + 3].t() + self.fusion.bias / len(MODS)
            row += 3
        out['fused'] = self.fusion(torch.cat([f[m] for m in MODS], 1))
        return out

    def tf(self):
        out = {}
        for m in MODS:
            out.update(enc_tf(m, self.enc[m]))
        out.update(dense_tf('fusion/dense_0', self.fusion))
        return out


def mean_ce(net, data, split, k, mods=MODS):
    net.eval()
    xs, y = data[split]
    with torch.no_grad():
        z = net(xs, mods)[k] if isinstance(net, Multitask) else net(xs)[k]
    return ce(z, y).item()


def weights_from(stats, previous, variant):
    gain = {k: s['V0'] - s['V1'] for k, s in stats.items()}
    over = {k: (s['V1'] - s['T1']) - (s['V0'] - s['T0']) for k, s in stats.items()}
    raw = {k: min(abs(gain[k]) / (over[k] ** 2 + EPS), 1e6) for k in stats}
    total = sum(raw.values())
    keep = (variant == 'paper' and all(g <= 0 for g in gain.values())) or not total > 0
    w = dict(previous) if keep else {k: raw[k] / total for k in stats}
    return w, gain, over, raw, keep


def estimate_paper(net, data, n, previous):
    stats = {}
    branches = MODS + ['fused']
    before = {k: (mean_ce(net, data, 'train', k), mean_ce(net, data, 'validation', k)) for k in branches}
    for k in branches:
        tmp = copy.deepcopy(net)
        mods = MODS if k == 'fused' else [k]
        opt = Sgd(tmp.branch_params(k), lr=LR, momentum=MOM, wd=WD)
        for _ in range(n):
            for xs, y in batches(data, 'train'):
                tmp.train()
                for p in tmp.parameters():
                    p.grad = None
                ce(tmp(xs, mods)[k], y).backward()
                opt.step()
        stats[k] = {'T0': before[k][0], 'V0': before[k][1],
                    'T1': mean_ce(tmp, data, 'train', k, mods), 'V1': mean_ce(tmp, data, 'validation', k, mods)}
    return stats, weights_from(stats, previous, 'paper')


def estimate_bb(net, data, n, previous):
    stats = {}
    for k in MODS + ['fused']:
        zeroed = [] if k == 'fused' else [m for m in MODS if m != k]
        tmp = copy.deepcopy(net)
        opt = Sgd(tmp.parameters(), lr=LR, momentum=MOM, wd=WD)
        s = {}
        for j in range(n):
            run = 0.0
            for xs, y in batches(data, 'train'):
                tmp.train()
                for p in tmp.parameters():
                    p.grad = None
                loss = ce(tmp(xs, zeroed)['fused'], y)
                loss.backward()
                opt.step()
                run += loss.item()
            if j in (0, n - 1):
                tmp.eval()
                with torch.no_grad():
                    v = sum(ce(tmp(xs, zeroed)['fused'], y).item()
                            for xs, y in batches(data, 'validation', BATCH, drop_last=False))
                if j == 0:
                    s['T0'], s['V0'] = run, v
                else:
                    s['T1'], s['V1'] = run, v
        stats[k] = s
    return stats, weights_from(stats, previous, 'balance-benchmark')


def run(variant, epochs, n, step_size, gamma, seed):
    data = make_data(seed)
    g = torch.Generator().manual_seed(seed + 1)
    net = (Multitask() if variant == 'paper' else Concat()).double()
    randomize(net, g)
    init = net.tf()
    opt = Sgd(net.parameters(), lr=LR, momentum=MOM, wd=WD)
    branches = MODS + ['fused']
    w = {k: 1 / len(branches) for k in branches}
    epochs_out = []
    for e in range(epochs):
        rec = {}
        if e % n == 0:
            stats, (w, gain, over, raw, keep) = (estimate_paper if variant == 'paper' else estimate_bb)(net, data, n, w)
            rec.update({'stats': stats, 'gain': gain, 'overfit': over, 'raw': raw, 'kept': keep})
        opt.lr = LR * gamma ** (e // step_size)
        losses = []
        for xs, y in batches(data, 'train'):
            net.train()
            for p in net.parameters():
                p.grad = None
            out = net(xs)
            loss = sum(w[k] * ce(out[k], y) for k in branches)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        net.eval()
        xs, y = data['validation']
        with torch.no_grad():
            val_acc = accuracy(net(xs)['fused'], y)
        rec.update({'weights': dict(w), 'trainLoss': sum(losses) / len(losses), 'lr': opt.lr,
                    'valAccuracy': val_acc})
        epochs_out.append(rec)
    return {'variant': variant, 'epochs': epochs, 'superEpoch': n, 'learningRate': LR,
            'momentum': MOM, 'weightDecay': WD, 'lrStepSize': step_size, 'lrGamma': gamma,
            'data': data_json(data), 'init': init, 'history': epochs_out, 'final': net.tf()}


paper = run('paper', epochs=4, n=2, step_size=2, gamma=0.5, seed=5)
bb = run('balance-benchmark', epochs=2, n=2, step_size=10, gamma=0.5, seed=6)
write('ogr-gb.json', {'paper': paper, 'balanceBenchmark': bb})
for r in (paper, bb):
    for e, h in enumerate(r['history']):
        if 'gain' in h:
            print(r['variant'], e, {k: round(v, 4) for k, v in h['weights'].items()},
                  'gain', {k: round(v, 4) for k, v in h['gain'].items()},
                  'over', {k: round(v, 4) for k, v in h['overfit'].items()}, 'kept', h['kept'])
