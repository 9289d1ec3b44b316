"""SMV references (independent PyTorch code) for packages/baselines/test/smv.test.ts.

A tiny concat model (Linear -> BatchNorm -> ReLU encoders, one fusion Linear), in float64.

"valuation2": the authors' two-modality valuation (inference mode): per sample the predictions of
the full features and of each modality with the other's features zeroed before the fusion layer,
v(av) = 2 * correct, v(a) = v(v) = correct, phi_a = (v(a) + v(av) - v(v)) / 2; the sample-level
copy counts; and, for a fixed list Z of drawn positions, the modality-level gaps, ratio
|gap_a - gap_v| / 3 * 2 * alpha and the number of copies int(ratio * N).

"valuation3": three modalities, phi computed by averaging marginal contributions over the 3!
orderings (a different algorithm from the subset-weight formula of the TF.js side), v(S) =
|S| * correct(S).

"step": two Adam steps (coupled L2) of joint cross-entropy on batches that mix originals and
copies; a copy keeping modality k zeroes the other modalities' features of that sample in place
after the encoders (BatchNorm in training mode sees every input).
"""
import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import linear_to_tf, tolist, write

C = 3


class Enc(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.fc = nn.Linear(d_in, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        return F.relu(self.bn(self.fc(x)))


class Net(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.names = list(dims)
        self.enc = nn.ModuleDict({m: Enc(d) for m, d in dims.items()})
        self.fusion = nn.Linear(3 * len(dims), C)

    def features(self, xs):
        return [self.enc[m](xs[m]) for m in self.names]

    def head(self, feats, keep=None):
        """keep: per sample -1 (all modalities) or the index of the only modality kept."""
        feats = [f.clone() for f in feats]
        if keep is not None:
            for i, k in enumerate(keep):
                if k >= 0:
                    for j in range(len(feats)):
                        if j != k:
                            feats[j][i, :] = 0.0
        return self.fusion(torch.cat(feats, 1))


def make(dims, seed):
    torch.manual_seed(seed)
    net = Net(dims).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p) * 0.8)
        for m in dims:
            net.enc[m].bn.weight.add_(1.0)
            net.enc[m].bn.running_mean.copy_(torch.randn(3) * 0.3)
            net.enc[m].bn.running_var.copy_(torch.rand(3) + 0.5)
    return net


def export(net):
    out = {}
    for m in net.names:
        e = net.enc[m]
        out[f'encoder/{m}/fc/kernel'] = tolist(linear_to_tf(e.fc.weight))
        out[f'encoder/{m}/fc/bias'] = tolist(e.fc.bias)
        out[f'encoder/{m}/bn/gamma'] = tolist(e.bn.weight)
        out[f'encoder/{m}/bn/beta'] = tolist(e.bn.bias)
        out[f'encoder/{m}/bn/moving_mean'] = tolist(e.bn.running_mean)
        out[f'encoder/{m}/bn/moving_variance'] = tolist(e.bn.running_var)
    out['fusion/dense_0/kernel'] = tolist(linear_to_tf(net.fusion.weight))
    out['fusion/dense_0/bias'] = tolist(net.fusion.bias)
    return out


def copies(phi):
    if 0.4 < phi < 1:
        return 1
    if -0.1 < phi < 0.4:
        return 2
    if phi < -0.1:
        return 3
    return 0


# ------------------------------------------------------------------ two modalities (the authors')
dims2 = {'audio': 4, 'visual': 5}
net2 = make(dims2, 8)
N = 40
xs2 = {m: torch.randn(N, d) * 1.5 for m, d in dims2.items()}
ys2 = torch.randint(0, C, (N,))
net2.eval()
with torch.no_grad():
    fa, fv = net2.features(xs2)
    out_all = net2.head([fa, fv])
    out_a = net2.head([fa, torch.zeros_like(fv)])  # visual zeroed
    out_v = net2.head([torch.zeros_like(fa), fv])  # audio zeroed
phi_a, phi_v = [], []
for i in range(N):
    y = ys2[i].item()
    right = {k: float(o[i].argmax().item() == y) for k, o in (('av', out_all), ('a', out_a), ('v', out_v))}
    v_av, v_a, v_v = 2 * right['av'], right['a'], right['v']  # v(S) = |S| * correct
    phi_a.append((v_a + v_av - v_v) / 2)
    phi_v.append((v_v + v_av - v_a) / 2)
alpha = 1.0
z = torch.randint(0, N, (int(N * 0.2),)).tolist()
mean_phi = [sum(p[i] for i in z) / len(z) for p in (phi_a, phi_v)]
gaps = [1.0 - m for m in mean_phi]
ratio = abs(gaps[0] - gaps[1]) / 3 * 2 * alpha
valuation2 = {
    'init': export(net2), 'inputs': {m: tolist(x) for m, x in xs2.items()}, 'labels': ys2.tolist(),
    'phi': [phi_a, phi_v], 'copies': [[copies(p) for p in phi_a], [copies(p) for p in phi_v]],
    'z': z, 'alpha': alpha, 'gaps': gaps, 'ratio': ratio,
    'weak': 0 if gaps[0] > gaps[1] else 1, 'K': int(ratio * N),
}
def top2_gap(logits):
    top = logits.topk(2, 1).values
    return (top[:, 0] - top[:, 1]).min().item()


print('closest argmax margin (two modalities)', min(top2_gap(o) for o in (out_all, out_a, out_v)))
print('phi_a values', sorted(set(phi_a)), 'phi_v values', sorted(set(phi_v)), 'ratio', ratio)

# ------------------------------------------------------------------ three modalities
dims3 = {'audio': 4, 'visual': 5, 'text': 3}
net3 = make(dims3, 9)
N3 = 30
xs3 = {m: torch.randn(N3, d) * 1.5 for m, d in dims3.items()}
ys3 = torch.randint(0, C, (N3,))
net3.eval()
names = list(dims3)
with torch.no_grad():
    feats = net3.features(xs3)
    correct = {}
    for r in range(1, 4):
        for subset in itertools.combinations(range(3), r):
            kept = [f if j in subset else torch.zeros_like(f) for j, f in enumerate(feats)]
            correct[frozenset(subset)] = (net3.head(kept).argmax(1) == ys3).double()


def v(i, subset):
    return 0.0 if not subset else len(subset) * correct[frozenset(subset)][i].item()


phi3 = [[0.0] * N3 for _ in names]
orders = list(itertools.permutations(range(3)))
for i in range(N3):
    for order in orders:
        before = []
        for j in order:
            phi3[j][i] += (v(i, before + [j]) - v(i, before)) / len(orders)
            before.append(j)
valuation3 = {'init': export(net3), 'inputs': {m: tolist(x) for m, x in xs3.items()},
              'labels': ys3.tolist(), 'phi': phi3}
print('three-modality phi values', sorted({round(p, 4) for row in phi3 for p in row}))

# ------------------------------------------------------------------ training steps with copies
net = make(dims2, 41)
init = export(net)
B = 8
xs = {m: torch.randn(2, B, d) * 1.5 for m, d in dims2.items()}
ys = torch.randint(0, C, (2, B))
keeps = [[-1, 0, 1, -1, 0, -1, 1, 1], [1, -1, -1, 0, 0, -1, -1, 1]]
opt = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4)
net.train()
losses = []
for s in range(2):
    out = net.head(net.features({m: xs[m][s] for m in dims2}), keeps[s])
    loss = F.cross_entropy(out, ys[s])
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
step = {'init': init, 'final': export(net), 'inputs': {m: tolist(x) for m, x in xs.items()},
        'labels': ys.tolist(), 'keep': keeps, 'losses': losses}

write('smv.json', {'valuation2': valuation2, 'valuation3': valuation3, 'step': step})
