"""MSES reference (project re-implementation of modality-specific early stopping) on the small
setup: multitask model (encoder Linear -> BN -> ReLU + Dense head per modality, Dense head on the
concatenation), SGD on CE(z_mm) + sum over active modalities of CE(z_m).

After every epoch, in inference mode on the validation split: mean CE of each active z_m; an
improvement (< best - min_delta) snapshots the modality's encoder (with its BN buffers) and head;
otherwise wait += 1; wait >= patience stops the modality: its snapshot is restored, its
parameters leave the update (no decay, no momentum) and its encoder runs in inference mode (BN
running statistics used and left unchanged). The fused CE is tracked the same way; once every
modality has stopped and it has not improved for `patience` epochs, training halts."""
import copy

import torch

from common import Sgd, write
from small_setup import MODS, Multitask, batches, ce, data_json, make_data, randomize

LR, MOM, WD = 0.2, 0.9, 1e-4
PATIENCE, DELTA, EPOCHS = 1, 0.0, 7


def run(seed):
    data = make_data(seed, {'audio': 0.9, 'visual': 0.2})
    g = torch.Generator().manual_seed(seed + 1)
    net = Multitask().double()
    randomize(net, g)
    init = net.tf()
    opt = Sgd(net.parameters(), lr=LR, momentum=MOM, wd=WD)
    track = {m: {'best': None, 'wait': 0, 'stop': None} for m in MODS}
    fused = {'best': None, 'wait': 0}
    snap = {}
    halted = None
    history = []
    for e in range(EPOCHS):
        active = [m for m in MODS if track[m]['stop'] is None]
        stopped = [m for m in MODS if m not in active]
        losses = []
        for xs, y in batches(data, 'train'):
            net.train()
            for m in stopped:
                net.enc[m].eval()
            if halted is not None:
                net.eval()
                with torch.no_grad():
                    out = net(xs)
                    losses.append((ce(out['fused'], y) + sum(ce(out[m], y) for m in active)).item())
                continue
            for p in net.parameters():
                p.grad = None
            out = net(xs)
            loss = ce(out['fused'], y) + sum(ce(out[m], y) for m in active)
            loss.backward()
            for m in stopped:  # frozen: no gradient, so no decay and no momentum
                for p in [*net.enc[m].parameters(), *net.head[m].parameters()]:
                    p.grad = None
            opt.step()
            losses.append(loss.item())
        rec = {'trainLoss': sum(losses) / len(losses), 'active': {m: int(m in active) for m in MODS}}
        if halted is None:
            net.eval()
            xs, y = data['validation']
            with torch.no_grad():
                out = net(xs)
            val = {}
            for m in active:
                t = track[m]
                v = ce(out[m], y).item()
                val[m] = v
                if t['best'] is None or v < t['best'] - DELTA:
                    t['best'], t['wait'] = v, 0
                    snap[m] = (copy.deepcopy(net.enc[m].state_dict()), copy.deepcopy(net.head[m].state_dict()))
                else:
                    t['wait'] += 1
                if t['wait'] >= PATIENCE:
                    t['stop'] = e
                    net.enc[m].load_state_dict(snap[m][0])
                    net.head[m].load_state_dict(snap[m][1])
            vf = ce(out['fused'], y).item()
            val['fused'] = vf
            if fused['best'] is None or vf < fused['best'] - DELTA:
                fused['best'], fused['wait'] = vf, 0
            else:
                fused['wait'] += 1
            if all(track[m]['stop'] is not None for m in MODS) and fused['wait'] >= PATIENCE:
                halted = e
            rec['valLoss'] = val
        rec['best'] = {m: track[m]['best'] for m in MODS}
        rec['bestFused'] = fused['best']
        rec['stopEpochs'] = {m: track[m]['stop'] for m in MODS}
        rec['halted'] = halted
        rec['weights'] = net.tf()
        history.append(rec)
    return {'learningRate': LR, 'momentum': MOM, 'weightDecay': WD, 'patience': PATIENCE,
            'minDelta': DELTA, 'epochs': EPOCHS, 'data': data_json(data), 'init': init,
            'history': history}


fx = run(seed=21)
write('mses.json', fx)
for e, h in enumerate(fx['history']):
    print(e, 'loss', round(h['trainLoss'], 4), 'val', {k: round(v, 4) for k, v in h.get('valLoss', {}).items()},
          'stops', h['stopEpochs'], 'halted', h['halted'])
