"""ReconBoost reference (docs/algorithms/reconboost.md): one boosting stage (audio, two SGD steps on the audio
learner and the shared head with the reconcilement-weighted loss) followed by one correction
stage (two SGD steps of CE on the ensemble beta * (f_a + f_v), all parameters and beta), each with
a new optimizer."""
import torch
import torch.nn.functional as F

from common import Sgd, linear_to_tf, tolist, write

g = torch.Generator().manual_seed(5)
r = lambda *s: torch.randn(*s, generator=g)
C = 3
w1, w2 = 5.0, 1.0
init = {
    'encoder/audio/fc0/kernel': r(3, 4) * 0.6, 'encoder/audio/fc0/bias': r(3) * 0.1,
    'encoder/visual/fc0/kernel': r(3, 5) * 0.6, 'encoder/visual/fc0/bias': r(3) * 0.1,
    'head/shared/dense_0/kernel': r(4, 3) * 0.6, 'head/shared/dense_0/bias': r(4) * 0.1,
    'head/shared/dense_1/kernel': r(C, 4) * 0.6, 'head/shared/dense_1/bias': r(C) * 0.1,
    'ensemble/beta': torch.tensor(1.0),
}
xa, xv = r(4, 8, 4), r(4, 8, 5)
ys = torch.randint(0, C, (4, 8), generator=g)
ps = {k: v.clone().requires_grad_(True) for k, v in init.items()}


def learner(m, x):
    f = F.relu(x @ ps[f'encoder/{m}/fc0/kernel'].t() + ps[f'encoder/{m}/fc0/bias'])
    h = F.relu(f @ ps['head/shared/dense_0/kernel'].t() + ps['head/shared/dense_0/bias'])
    return h @ ps['head/shared/dense_1/kernel'].t() + ps['head/shared/dense_1/bias']


logs = []
stage_params = [k for k in ps if k.startswith('encoder/audio') or k.startswith('head/shared')]
opt = Sgd([ps[k] for k in stage_params], lr=0.1, momentum=0.9, wd=5e-4)
for s in range(2):
    with torch.no_grad():
        q = F.softmax(ps['ensemble/beta'] * learner('visual', xv[s]), 1).gather(1, ys[s][:, None])[:, 0]
    logp = F.log_softmax(learner('audio', xa[s]), 1).gather(1, ys[s][:, None])[:, 0]
    loss = (-((w1 - w2 * q) / C) * logp).mean()
    for p in ps.values():
        p.grad = None
    loss.backward()
    opt.step()
    logs.append({'loss': loss.item()})
opt = Sgd(list(ps.values()), lr=0.1, momentum=0.9, wd=5e-4)
for s in range(2, 4):
    loss = F.cross_entropy(ps['ensemble/beta'] * (learner('audio', xa[s]) + learner('visual', xv[s])), ys[s])
    for p in ps.values():
        p.grad = None
    loss.backward()
    opt.step()
    logs.append({'loss': loss.item()})

tfl = lambda k, t: linear_to_tf(t) if k.endswith('kernel') else t
write('reconboost.json', {
    'w1': w1, 'w2': w2,
    'init': {k: tolist(tfl(k, v)) for k, v in init.items()},
    'final': {k: tolist(tfl(k, v)) for k, v in ps.items()},
    'xa': tolist(xa), 'xv': tolist(xv), 'labels': ys.tolist(), 'logs': logs,
})
print([round(l['loss'], 4) for l in logs])
