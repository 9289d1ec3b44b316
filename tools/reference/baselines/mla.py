"""MLA reference (docs/algorithms/mla.md): batch-wise alternation (audio then visual) on a shared head
Linear(d -> C) with the OWM projection of the head weight gradient, SGD; two batches, both the
paper (scalar denominator) and the released-code (elementwise outer denominator) forms."""
import torch
import torch.nn.functional as F

from common import Sgd, linear_to_tf, tolist, write

g = torch.Generator().manual_seed(9)
r = lambda *s: torch.randn(*s, generator=g)
C, d = 3, 4
init = {
    'encoder/audio/fc0/kernel': r(d, 5) * 0.6, 'encoder/audio/fc0/bias': r(d) * 0.1,
    'encoder/visual/fc0/kernel': r(d, 6) * 0.6, 'encoder/visual/fc0/bias': r(d) * 0.1,
    'head/shared/dense_0/kernel': r(C, d) * 0.6, 'head/shared/dense_0/bias': r(C) * 0.1,
}
xa, xv = r(2, 8, 5), r(2, 8, 6)
ys = torch.randint(0, C, (2, 8), generator=g)


def run(form):
    ps = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    opt = Sgd(ps.values(), lr=0.1, momentum=0.9, wd=1e-4)
    P = torch.eye(d)
    first = True
    logs = []
    for b in range(2):
        for m, x in (('audio', xa[b]), ('visual', xv[b])):
            f = F.relu(x @ ps[f'encoder/{m}/fc0/kernel'].t() + ps[f'encoder/{m}/fc0/bias'])
            out = f @ ps['head/shared/dense_0/kernel'].t() + ps['head/shared/dense_0/bias']
            loss = F.cross_entropy(out, ys[b])
            for p in ps.values():
                p.grad = None
            loss.backward()
            if not first:
                with torch.no_grad():
                    rr = f.mean(0, keepdim=True).detach()  # 1 x d
                    alpha = 0.1 ** (1 + b / 2)
                    k = P @ rr.t()  # d x 1
                    if form == 'scalar':
                        P = P - (k @ k.t()) / (alpha + (rr @ k).item())
                    else:
                        P = P - (k @ k.t()) / (alpha + k @ rr)
                    P = P / P.norm()
                    W = ps['head/shared/dense_0/kernel']
                    W.grad = W.grad @ P.t()
            first = False
            opt.step()
            logs.append({'loss': loss.item()})
    tfl = lambda k, t: linear_to_tf(t) if k.endswith('kernel') else t
    return {'final': {k: tolist(tfl(k, v)) for k, v in ps.items()}, 'P': tolist(P), 'logs': logs}


tfl = lambda k, t: linear_to_tf(t) if k.endswith('kernel') else t
write('mla.json', {
    'init': {k: tolist(tfl(k, v)) for k, v in init.items()},
    'xa': tolist(xa), 'xv': tolist(xv), 'labels': ys.tolist(),
    'cases': {'scalar': run('scalar'), 'outer': run('outer')},
})
