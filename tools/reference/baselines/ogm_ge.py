"""OGM-GE reference (docs/algorithms/ogm-ge.md#update-rule): two steps of a tiny conv model, concat fusion, SGD.

Written from the algorithm statement, not from the official repository. Fixed N(0,1) draws for
the GE noise are part of the fixture (TF.js layout), so the test reproduces them exactly.
"""
import math

import torch
import torch.nn.functional as F

from common import Sgd, conv_to_tf, linear_to_tf, tolist, write

torch.manual_seed(7)
B, C, H = 6, 3, 5
feat = 2
xa = torch.randn(B, 1, H, H)
xv = torch.randn(B, 3, H, H)
ys = [torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([2, 2, 1, 0, 0, 1])]
params = {
    'audio/conv': torch.randn(feat, 1, 3, 3) * 0.5,
    'audio/bias': torch.randn(feat) * 0.1,
    'visual/conv': torch.randn(feat, 3, 3, 3) * 0.5,
    'visual/bias': torch.randn(feat) * 0.1,
    'fusion/weight': torch.randn(C, 2 * feat) * 0.5,
    'fusion/bias': torch.randn(C) * 0.1,
}
init = {k: v.clone() for k, v in params.items()}
for p in params.values():
    p.requires_grad_(True)
draws = [{k: torch.randn_like(params[k]) for k in ('audio/conv', 'visual/conv')} for _ in ys]


def encode(x, w, b):
    return F.relu(F.conv2d(x, w, b)).mean(dim=(2, 3))


def run(alpha, noise, window_end):
    ps = {k: init[k].clone().requires_grad_(True) for k in init}
    opt = Sgd(ps.values(), lr=0.1, momentum=0.9, wd=1e-4)
    logs = []
    for step, y in enumerate(ys):
        a = encode(xa, ps['audio/conv'], ps['audio/bias'])
        v = encode(xv, ps['visual/conv'], ps['visual/bias'])
        W, b = ps['fusion/weight'], ps['fusion/bias']
        out = torch.cat([a, v], 1) @ W.t() + b
        out_a = a @ W[:, :feat].t() + b / 2
        out_v = v @ W[:, feat:].t() + b / 2
        loss = F.cross_entropy(out, y)
        for p in ps.values():
            p.grad = None
        loss.backward()
        with torch.no_grad():
            s_a = F.softmax(out_a, 1).gather(1, y[:, None]).sum()
            s_v = F.softmax(out_v, 1).gather(1, y[:, None]).sum()
            rho_v = (s_v / s_a).item()
            rho_a = 1 / rho_v
            if rho_v > 1:
                k_a, k_v = 1.0, 1 - math.tanh(alpha * rho_v)
            else:
                k_a, k_v = 1 - math.tanh(alpha * rho_a), 1.0
            epoch = step  # one step per epoch in this fixture
            if epoch <= window_end:
                for key, k in (('audio/conv', k_a), ('visual/conv', k_v)):
                    g = ps[key].grad
                    std = g.std() + 1e-8  # unbiased, of the unscaled gradient
                    g.mul_(k)
                    if noise:
                        g.add_(draws[step][key] * std)
        logs.append({'loss': loss.item(), 's_audio': s_a.item(), 's_visual': s_v.item(),
                     'ratio': rho_v, 'coef_audio': k_a, 'coef_visual': k_v})
        opt.step()
    return {'params': {k: tolist(tf_layout(k, p)) for k, p in ps.items()}, 'logs': logs}


def tf_layout(k, p):
    if k.endswith('conv'):
        return conv_to_tf(p)
    if k == 'fusion/weight':
        return linear_to_tf(p)
    return p


write('ogm-ge.json', {
    'shapes': {'B': B, 'C': C, 'H': H, 'feat': feat},
    'xa': tolist(xa.permute(0, 2, 3, 1)), 'xv': tolist(xv.permute(0, 2, 3, 1)),
    'labels': [y.tolist() for y in ys],
    'init': {k: tolist(tf_layout(k, p)) for k, p in init.items()},
    'draws': [{k: tolist(conv_to_tf(d)) for k, d in dr.items()} for dr in draws],
    'cases': {
        'ge': dict(alpha=0.8, noise=True, window_end=1, **run(0.8, True, 1)),
        'ogm': dict(alpha=0.3, noise=False, window_end=1, **run(0.3, False, 1)),
        'window': dict(alpha=0.8, noise=True, window_end=0, **run(0.8, True, 0)),
    },
})
