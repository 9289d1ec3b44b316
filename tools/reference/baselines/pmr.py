"""PMR reference (docs/algorithms/pmr.md): prototypes as class means of the features, the prototype
cross-entropy for the weaker modality, two SGD steps, then a momentum prototype update with a
class absent from the pass (the project keeps the old prototype for it)."""
import torch
import torch.nn.functional as F

from common import Sgd, linear_to_tf, tolist, write

g = torch.Generator().manual_seed(3)
r = lambda *s: torch.randn(*s, generator=g)
C = 3
init = {
    'encoder/audio/w': r(3, 4) * 0.6, 'encoder/audio/b': r(3) * 0.1,
    'encoder/visual/w': r(3, 5) * 0.6, 'encoder/visual/b': r(3) * 0.1,
    'fusion/w': r(3, 6) * 0.5, 'fusion/b': r(3) * 0.1,
}
xa, xv = r(9, 4), r(9, 5)
ys = [torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2]), torch.tensor([2, 1, 0, 0, 2, 1, 1, 0, 2])]
xa_p, xv_p = r(10, 4), r(10, 5)
y_p = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
y_p2 = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1, 0])  # class 2 absent
alpha, mu = 2.0, 0.5

ps = {k: v.clone().requires_grad_(True) for k, v in init.items()}
enc = lambda m, x: F.relu(x @ ps[f'encoder/{m}/w'].t() + ps[f'encoder/{m}/b'])


def class_means(f, y, old):
    out = old.clone()
    for c in range(C):
        sel = y == c
        if sel.any():
            out[c] = f[sel].mean(0)
    return out


with torch.no_grad():
    protos = {m: class_means(enc(m, x), y_p, torch.zeros(C, 3)) for m, x in (('audio', xa_p), ('visual', xv_p))}
protos0 = {m: p.clone() for m, p in protos.items()}

opt = Sgd(ps.values(), lr=0.1, momentum=0.9, wd=1e-4)
logs = []
for y in ys:
    a, v = enc('audio', xa), enc('visual', xv)
    out = torch.cat([a, v], 1) @ ps['fusion/w'].t() + ps['fusion/b']
    d_a = torch.cdist(a, protos['audio'])
    d_v = torch.cdist(v, protos['visual'])
    pce_a, pce_v = F.cross_entropy(-d_a, y), F.cross_entropy(-d_v, y)
    s_a = F.softmax(-d_a, 1).gather(1, y[:, None]).sum()
    s_v = F.softmax(-d_v, 1).gather(1, y[:, None]).sum()
    rho = (s_a / s_v).item()
    loss = F.cross_entropy(out, y)
    if rho > 1:
        loss = loss + alpha * pce_v
    elif rho < 1:
        loss = loss + alpha * pce_a
    for p in ps.values():
        p.grad = None
    loss.backward()
    opt.step()
    logs.append({'loss': loss.item(), 'ratio': rho, 'pce_audio': pce_a.item(), 'pce_visual': pce_v.item()})

with torch.no_grad():
    protos1 = {}
    for m, x in (('audio', xa_p), ('visual', xv_p)):
        fresh = class_means(enc(m, x), y_p2, protos[m])
        protos1[m] = (1 - mu) * fresh + mu * protos[m]

tfl = lambda k, t: linear_to_tf(t) if k.endswith('/w') else t
write('pmr.json', {
    'alpha': alpha, 'momentum': mu,
    'init': {k: tolist(tfl(k, v)) for k, v in init.items()},
    'xa': tolist(xa), 'xv': tolist(xv), 'labels': [y.tolist() for y in ys],
    'xa_p': tolist(xa_p), 'xv_p': tolist(xv_p), 'y_p': y_p.tolist(), 'y_p2': y_p2.tolist(),
    'protos0': {m: tolist(p) for m, p in protos0.items()},
    'protos1': {m: tolist(p) for m, p in protos1.items()},
    'params': {k: tolist(tfl(k, v)) for k, v in ps.items()}, 'logs': logs,
})
print([round(l['ratio'], 3) for l in logs])
