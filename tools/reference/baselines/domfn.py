"""DOMFN references (independent PyTorch code) for packages/baselines/test/domfn.test.ts.

domfn.json, "batched": the batched per-sample adaptation with three modalities (MLP encoders,
unimodal heads, a multimodal head on the concatenated features), softmax probabilities, one
Adam optimizer with coupled L2 over every parameter. Step 0 is a warm-up step (pretrainEpochs 1:
sum of the unimodal CEs, multimodal head not stepped); steps 1-3 are main steps where the gate
mixes gated-in and gated-out samples.

domfn.json, "batch1": the authors' own semantics at batch size 1 (their DOMFN.forward and
trainer.train step, re-implemented here): three branches Linear-ReLU x3 -> Linear -> Sigmoid, a
multimodal head Linear-ReLU-Linear-Sigmoid, cross-entropy applied to the sigmoid outputs, the
penalty max_c (s_m - mean_m s_m)^2, and per sample either the "fusion" update (backward of
sum_m (ce_m^2 / 2 - eta p_m) + sum_m ce_m + ce_mm, all four Adam optimizers step) or the
"separate" update (each branch's CE backward and its own optimizer step; the multimodal head's
optimizer does not step). Four Adams with different learning rates, coupled L2 1e-3.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import linear_to_tf, tolist, write

C = 3


def export_linear(out, key, lin):
    out[f'{key}/kernel'] = tolist(linear_to_tf(lin.weight))
    out[f'{key}/bias'] = tolist(lin.bias)


# ------------------------------------------------------------------------------- batched
torch.manual_seed(21)
MODS = {'audio': 5, 'visual': 6, 'text': 4}
B, eta, tau, gamma = 8, 0.5, 0.3, 0.8


class BatchedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.ModuleDict({m: nn.Linear(d, 4) for m, d in MODS.items()})
        self.head = nn.ModuleDict({m: nn.Linear(4, C) for m in MODS})
        self.multi0 = nn.Linear(4 * len(MODS), 5)
        self.multi1 = nn.Linear(5, C)

    def forward(self, xs):
        feats = {m: F.relu(self.enc[m](xs[m])) for m in MODS}
        z = {m: self.head[m](feats[m]) for m in MODS}
        zmm = self.multi1(F.relu(self.multi0(torch.cat([feats[m] for m in MODS], 1))))
        return z, zmm


def export_batched(net):
    out = {}
    for m in MODS:
        export_linear(out, f'encoder/{m}/fc0', net.enc[m])
        export_linear(out, f'head/{m}/dense_0', net.head[m])
    export_linear(out, 'fusion/dense_0', net.multi0)
    export_linear(out, 'fusion/dense_1', net.multi1)
    return out


net = BatchedNet().double()
with torch.no_grad():
    for p in net.parameters():
        p.copy_(torch.randn_like(p) * 0.9)
init = export_batched(net)
steps = 4
xs = {m: torch.randn(steps, B, d) * 2 for m, d in MODS.items()}
ys = torch.randint(0, C, (steps, B))
opt = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-3)
fusion_params = list(net.multi0.parameters()) + list(net.multi1.parameters())
logs = []
margins = []
for s in range(steps):
    pretraining = s == 0
    x = {m: xs[m][s] for m in MODS}
    y = ys[s]
    z, zmm = net(x)
    P = {m: F.softmax(z[m], 1) for m in MODS}
    Pbar = sum(P.values()) / len(MODS)
    d = {m: ((P[m] - Pbar) ** 2).max(1).values for m in MODS}
    ratio = torch.stack([d[m] for m in MODS], 1).max(1).values.detach() / tau
    margins.append((ratio - gamma).abs().min().item())
    g = (ratio < gamma).double()
    ce = {m: F.cross_entropy(z[m], y, reduction='none') for m in MODS}
    ce_mm = F.cross_entropy(zmm, y, reduction='none')
    separate = sum(ce.values())
    if pretraining:
        loss = separate.mean()
    else:
        fuse = sum(0.5 * ce[m] ** 2 + ce[m] - eta * d[m] for m in MODS) + ce_mm
        loss = (g * fuse + (1 - g) * separate).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if pretraining or g.sum() == 0:
        for p in fusion_params:
            p.grad = None
    opt.step()
    entry = {'loss': loss.item(), 'gated_out': 1 - g.mean().item(), 'pretraining': pretraining}
    for m in MODS:
        entry[f'divergence_{m}'] = d[m].mean().item()
    logs.append(entry)
batched = {'eta': eta, 'tau': tau, 'gamma': gamma, 'init': init, 'final': export_batched(net),
           'inputs': {m: tolist(xs[m]) for m in MODS}, 'labels': ys.tolist(), 'logs': logs}
print('batched gated-out per step:', [round(l['gated_out'], 3) for l in logs], 'closest gate margin', min(margins))

# ------------------------------------------------------------------------------- batch 1
torch.manual_seed(5)
MODS1 = {'text': 6, 'visual': 5, 'audio': 4}  # the reference's concat order: text, vision, audio
LRS = {'text': 0.03, 'visual': 0.02, 'audio': 0.025, 'multi': 0.04}
eta1, tau1, gamma1 = 0.5, 0.28, 0.8
N = 12


class Branch(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc0, self.fc1, self.fc2 = nn.Linear(d, 8), nn.Linear(8, 6), nn.Linear(6, 4)
        self.pred = nn.Linear(4, C)

    def forward(self, x):
        f = F.relu(self.fc2(F.relu(self.fc1(F.relu(self.fc0(x))))))
        return f, torch.sigmoid(self.pred(f))


class Official(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch = nn.ModuleDict({m: Branch(d) for m, d in MODS1.items()})
        self.multi0 = nn.Linear(12, 5)
        self.multi1 = nn.Linear(5, C)

    def forward(self, xs, y):
        out = {m: self.branch[m](xs[m]) for m in MODS1}
        s = {m: out[m][1] for m in MODS1}
        smm = torch.sigmoid(self.multi1(F.relu(self.multi0(torch.cat([out[m][0] for m in MODS1], 1)))))
        ce = {m: F.cross_entropy(s[m], y) for m in MODS1}  # CE applied to sigmoid outputs
        ce_mm = F.cross_entropy(smm, y)
        mean = torch.stack([s[m] for m in MODS1], 1).mean(1)
        pen = {m: ((s[m] - mean) ** 2).max(1).values for m in MODS1}
        fused = sum(0.5 * ce[m] * ce[m] - eta1 * pen[m] for m in MODS1) + sum(ce.values()) + ce_mm
        return ce, pen, fused


def export_official(model):
    out = {}
    for m in MODS1:
        br = model.branch[m]
        for k in ('fc0', 'fc1', 'fc2'):
            export_linear(out, f'encoder/{m}/{k}', getattr(br, k))
        export_linear(out, f'head/{m}/dense_0', br.pred)
    export_linear(out, 'fusion/dense_0', model.multi0)
    export_linear(out, 'fusion/dense_1', model.multi1)
    return out


model = Official().double()
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.randn_like(p) * 0.8)
init1 = export_official(model)
opts = {m: torch.optim.Adam(model.branch[m].parameters(), lr=LRS[m], weight_decay=1e-3) for m in MODS1}
opts['multi'] = torch.optim.Adam(list(model.multi0.parameters()) + list(model.multi1.parameters()),
                                 lr=LRS['multi'], weight_decay=1e-3)
xs1 = {m: torch.randn(N, 1, d) for m, d in MODS1.items()}
ys1 = torch.randint(0, C, (N, 1))
logs1 = []
for i in range(N):
    x = {m: xs1[m][i] for m in MODS1}
    ce, pen, fused = model(x, ys1[i])
    fusion_step = all((pen[m] / tau1 < gamma1).item() for m in MODS1)
    if fusion_step:
        for o in opts.values():
            o.zero_grad()
        fused.sum().backward()
        for o in opts.values():
            o.step()
    else:
        for m in MODS1:
            opts[m].zero_grad()
            ce[m].backward(retain_graph=True)
            opts[m].step()
    logs1.append({'fusion': fusion_step, 'loss_fuse': fused.sum().item(),
                  'loss_separate': sum(v.item() for v in ce.values()),
                  **{f'penalty_{m}': pen[m].item() for m in MODS1}})
batch1 = {'eta': eta1, 'tau': tau1, 'gamma': gamma1, 'learningRates': LRS, 'init': init1,
          'final': export_official(model), 'inputs': {m: tolist(xs1[m]) for m in MODS1},
          'labels': ys1.tolist(), 'logs': logs1}
print('batch-1 fusion steps:', [l['fusion'] for l in logs1])

write('domfn.json', {'batched': batched, 'batch1': batch1})
