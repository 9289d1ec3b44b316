"""MMPareto reference (docs/algorithms/mmpareto.md): two SGD steps of a tiny two-encoder model with a concat
fusion head and one auxiliary head per modality. Unimodal gradients come from their own
backward passes here (the TF.js side derives them as G - g_mm), an independent check."""
import torch
import torch.nn.functional as F

from common import Sgd, linear_to_tf, tolist, write


def min_norm(v11, v12, v22):
    if v12 >= v11:
        return 0.999
    if v12 >= v22:
        return 0.001
    return (v22 - v12) / (v11 + v22 - 2 * v12)


def build(seed):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.6
    p = {
        'encoder/audio/w': r(3, 4), 'encoder/audio/b': r(3),
        'encoder/visual/w': r(3, 5), 'encoder/visual/b': r(3),
        'fusion/w': r(3, 6), 'fusion/b': r(3),
        'head/audio/w': r(3, 3), 'head/audio/b': r(3),
        'head/visual/w': r(3, 3), 'head/visual/b': r(3),
    }
    xa, xv = r(8, 4) * 2, r(8, 5) * 2
    ys = [torch.randint(0, 3, (8,), generator=g) for _ in range(2)]
    return p, xa, xv, ys


def run(seed, gamma=1.5):
    init, xa, xv, ys = build(seed)
    ps = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    opt = Sgd(ps.values(), lr=0.1, momentum=0.9, wd=1e-4)
    logs = []
    enc = {m: [ps[f'encoder/{m}/w'], ps[f'encoder/{m}/b']] for m in ('audio', 'visual')}
    for y in ys:
        a = F.relu(xa @ ps['encoder/audio/w'].t() + ps['encoder/audio/b'])
        v = F.relu(xv @ ps['encoder/visual/w'].t() + ps['encoder/visual/b'])
        out = torch.cat([a, v], 1) @ ps['fusion/w'].t() + ps['fusion/b']
        out_a = a @ ps['head/audio/w'].t() + ps['head/audio/b']
        out_v = v @ ps['head/visual/w'].t() + ps['head/visual/b']
        l_mm, l_a, l_v = F.cross_entropy(out, y), F.cross_entropy(out_a, y), F.cross_entropy(out_v, y)
        enc_params = enc['audio'] + enc['visual']
        g_mm = torch.autograd.grad(l_mm, enc_params, retain_graph=True)
        g_a = torch.autograd.grad(l_a, enc['audio'], retain_graph=True)
        g_v = torch.autograd.grad(l_v, enc['visual'], retain_graph=True)
        for p in ps.values():
            p.grad = None
        (l_mm + l_a + l_v).backward()
        step_log = {'loss': (l_mm + l_a + l_v).item()}
        for m, gu, gm in (('audio', g_a, g_mm[:2]), ('visual', g_v, g_mm[2:])):
            f_mm = torch.cat([t.flatten() for t in gm])
            f_u = torch.cat([t.flatten() for t in gu])
            cos = F.cosine_similarity(f_mm, f_u, dim=0).item()
            if cos > 0:
                k1, k2 = 0.5, 0.5
            else:
                k1 = min_norm(f_mm @ f_mm, f_mm @ f_u, f_u @ f_u).item()
                k2 = 1 - k1
            step_log[f'cos_{m}'] = cos
            step_log[f'weight_{m}'] = k1
            with torch.no_grad():
                for p, a_mm, a_u in zip(enc[m], gm, gu):
                    new = 2 * k1 * a_mm + 2 * k2 * a_u
                    r = p.grad.norm() / new.norm()
                    p.grad = gamma * new * r if r > 1 else gamma * new
        logs.append(step_log)
        opt.step()
    tfl = lambda k, t: linear_to_tf(t) if k.endswith('/w') else t
    return {
        'init': {k: tolist(tfl(k, v)) for k, v in init.items()},
        'xa': tolist(xa), 'xv': tolist(xv), 'labels': [y.tolist() for y in ys],
        'params': {k: tolist(tfl(k, v)) for k, v in ps.items()}, 'logs': logs,
    }


# Pick a seed where at least one step has a conflict (cos <= 0) so the min-norm branch is covered.
for seed in range(200):
    res = run(seed)
    conflicts = sum(l[f'cos_{m}'] <= 0 for l in res['logs'] for m in ('audio', 'visual'))
    agreements = sum(l[f'cos_{m}'] > 0 for l in res['logs'] for m in ('audio', 'visual'))
    if conflicts >= 1 and agreements >= 1:
        break
res['seed'] = seed
write('mmpareto.json', res)
print('seed', seed, [(round(l['cos_audio'], 3), round(l['cos_visual'], 3)) for l in res['logs']])
