"""MSLR reference (project re-implementation of modality-specific learning rates) on the small
setup: additive late fusion z = sum_m head_m(enc_m(x_m)), encoders Linear -> BN -> ReLU.

Stage 1: for each grid position t, every modality restarts from its initial weights and trains
alone on CE(z_m) for E1 epochs at lr grid[t] (SGD, momentum, decay; a fresh optimizer per trial);
after each epoch, validation accuracy of argmax z_m; the best (strictly greater) keeps a copy of the
modality's encoder (with BN buffers) and head. Then each modality gets its best weights and
lambda_m = the grid value of that copy.
Stage 2: one SGD parameter group per modality with lr lambda_m * r_m; 'dynamic': after epoch e, a_m
= validation accuracy of argmax z_m, buffer of the last H values (including a_m); if e > 0 and
e % H == 0: r_m *= a_m / mean(buffer)."""
import copy

import torch
import torch.nn as nn

from common import Sgd, write
from small_setup import C, DIMS, MODS, Enc, accuracy, batches, ce, data_json, dense_tf, enc_tf, make_data, randomize

MOM, WD = 0.9, 1e-4
GRID = [0.01, 0.05, 0.25]
E1, E2, H = 2, 6, 2


class LateFusion(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.ModuleDict({m: Enc(d) for m, d in DIMS.items()})
        self.head = nn.ModuleDict({m: nn.Linear(3, C) for m in MODS})

    def forward(self, xs, mods=MODS):
        out = {m: self.head[m](self.enc[m](xs[m])) for m in mods}
        if list(mods) == MODS:
            out['fused'] = sum(out[m] for m in MODS)
        return out

    def part(self, m):
        return [*self.enc[m].parameters(), *self.head[m].parameters()]

    def state(self, m):
        return copy.deepcopy((self.enc[m].state_dict(), self.head[m].state_dict()))

    def load(self, m, s):
        self.enc[m].load_state_dict(s[0])
        self.head[m].load_state_dict(s[1])

    def tf(self):
        out = {}
        for m in MODS:
            out.update(enc_tf(m, self.enc[m]))
            out.update(dense_tf(f'head/{m}/dense_0', self.head[m]))
        return out


def val_acc(net, data, mods):
    net.eval()
    xs, y = data['validation']
    with torch.no_grad():
        out = net(xs, mods)
    return {m: accuracy(out[m], y) for m in mods}


def run(seed, strategy):
    data = make_data(seed, {'audio': 0.9, 'visual': 0.6}, {'train': 24, 'validation': 12, 'test': 6})
    g = torch.Generator().manual_seed(seed + 1)
    net = LateFusion().double()
    randomize(net, g)
    init = net.tf()
    initial = {m: net.state(m) for m in MODS}
    best = {}
    trials = {m: [] for m in MODS}
    for t, lr in enumerate(GRID):
        for m in MODS:
            net.load(m, initial[m])
        opts = {m: Sgd(net.part(m), lr=lr, momentum=MOM, wd=WD) for m in MODS}
        row = {m: -1.0 for m in MODS}
        for e in range(E1):
            for xs, y in batches(data, 'train'):
                net.train()
                for p in net.parameters():
                    p.grad = None
                out = net(xs, MODS)
                sum(ce(out[m], y) for m in MODS).backward()
                for m in MODS:
                    opts[m].step()
            acc = val_acc(net, data, MODS)
            for m in MODS:
                row[m] = max(row[m], acc[m])
                if m not in best or acc[m] > best[m]['valAccuracy']:
                    best[m] = {'learningRate': lr, 'valAccuracy': acc[m], 'trial': t, 'epoch': e,
                               'state': net.state(m)}
        for m in MODS:
            trials[m].append(row[m])
    for m in MODS:
        net.load(m, best[m]['state'])
    after_stage1 = net.tf()
    lam = {m: best[m]['learningRate'] for m in MODS}
    ratio = {m: 1.0 for m in MODS}
    buf = {m: [] for m in MODS}
    opts = {m: Sgd(net.part(m), lr=lam[m], momentum=MOM, wd=WD) for m in MODS}
    history = []
    for e in range(E2):
        for m in MODS:
            opts[m].lr = lam[m] * ratio[m]
        lrs = {m: opts[m].lr for m in MODS}
        losses = []
        for xs, y in batches(data, 'train'):
            net.train()
            for p in net.parameters():
                p.grad = None
            loss = ce(net(xs)['fused'], y)
            loss.backward()
            for m in MODS:
                opts[m].step()
            losses.append(loss.item())
        acc = val_acc(net, data, MODS)
        if strategy == 'dynamic':
            for m in MODS:
                buf[m] = (buf[m] + [acc[m]])[-H:]
                if e > 0 and e % H == 0:
                    mean = sum(buf[m]) / len(buf[m])
                    if mean > 0:
                        ratio[m] *= acc[m] / mean
        history.append({'lr': lrs, 'trainLoss': sum(losses) / len(losses), 'valAccuracy': acc})
    return {'strategy': strategy, 'momentum': MOM, 'weightDecay': WD, 'grid': GRID,
            'unimodalEpochs': E1, 'epochs': E2, 'history_length': H, 'data': data_json(data),
            'init': init, 'stage1': {m: {k: v for k, v in best[m].items() if k != 'state'} for m in MODS},
            'stage1Trials': trials, 'afterStage1': after_stage1, 'history': history, 'final': net.tf()}


fx = {'dynamic': run(34, 'dynamic'), 'keep': run(34, 'keep')}
write('mslr.json', fx)
for k, r in fx.items():
    print(k, 'stage1', r['stage1'])
    for e, h in enumerate(r['history']):
        print('  ', e, {m: round(v, 5) for m, v in h['lr'].items()}, {m: round(v, 3) for m, v in h['valAccuracy'].items()})
