"""Joint (concat and sum fusion) and unimodal references
(docs/algorithms/joint-unimodal.md#baselines): two SGD steps of tiny MLP encoders.
Concat: CE(W[a; v] + b); sum: CE(W_a a + b_a + W_v v + b_v); unimodal:
CE(W_a a + b_a) + CE(W_v v + b_v) (independent models trained side by side)."""
import torch
import torch.nn.functional as F

from common import Sgd, linear_to_tf, tolist, write

g = torch.Generator().manual_seed(21)
r = lambda *s: torch.randn(*s, generator=g)
C, d = 3, 4
enc = {
    'encoder/audio/fc0/kernel': r(d, 5) * 0.6, 'encoder/audio/fc0/bias': r(d) * 0.1,
    'encoder/visual/fc0/kernel': r(d, 6) * 0.6, 'encoder/visual/fc0/bias': r(d) * 0.1,
}
heads = {
    'concat': {'fusion/dense_0/kernel': r(C, 2 * d) * 0.5, 'fusion/dense_0/bias': r(C) * 0.1},
    'sum': {'fusion/audio/kernel': r(C, d) * 0.5, 'fusion/audio/bias': r(C) * 0.1,
            'fusion/visual/kernel': r(C, d) * 0.5, 'fusion/visual/bias': r(C) * 0.1},
    'unimodal': {'head/audio/dense_0/kernel': r(C, d) * 0.5, 'head/audio/dense_0/bias': r(C) * 0.1,
                 'head/visual/dense_0/kernel': r(C, d) * 0.5, 'head/visual/dense_0/bias': r(C) * 0.1},
}
xa, xv = r(2, 8, 5), r(2, 8, 6)
ys = torch.randint(0, C, (2, 8), generator=g)
tfl = lambda k, t: linear_to_tf(t) if k.endswith('kernel') else t


def run(kind):
    init = {**enc, **heads[kind]}
    ps = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    opt = Sgd(ps.values(), lr=0.1, momentum=0.9, wd=1e-4)
    lin = lambda f, pre: f @ ps[pre + '/kernel'].t() + ps[pre + '/bias']
    logs = []
    for b in range(2):
        a = F.relu(lin(xa[b], 'encoder/audio/fc0'))
        v = F.relu(lin(xv[b], 'encoder/visual/fc0'))
        if kind == 'concat':
            loss = F.cross_entropy(lin(torch.cat([a, v], 1), 'fusion/dense_0'), ys[b])
        elif kind == 'sum':
            loss = F.cross_entropy(lin(a, 'fusion/audio') + lin(v, 'fusion/visual'), ys[b])
        else:
            loss = F.cross_entropy(lin(a, 'head/audio/dense_0'), ys[b]) + F.cross_entropy(lin(v, 'head/visual/dense_0'), ys[b])
        for p in ps.values():
            p.grad = None
        loss.backward()
        opt.step()
        logs.append({'loss': loss.item()})
    return {'init': {k: tolist(tfl(k, v)) for k, v in init.items()},
            'final': {k: tolist(tfl(k, v)) for k, v in ps.items()}, 'logs': logs}


write('joint-unimodal.json', {'xa': tolist(xa), 'xv': tolist(xv), 'labels': ys.tolist(),
                              'cases': {k: run(k) for k in heads}})
