"""AGM reference: two SGD steps of a tiny two-encoder model (Linear -> BN -> ReLU per modality,
concat fusion). Zeroed passes run with BN in inference mode and gradients flowing; the backward
reweighting uses the detach trick (the TF.js side uses tf.customGrad).

Second fixture (agm-3.json): the same with three modalities, written out in the form of the
authors' three-modality model (UR-Funny): each m_m spelled as thirds and sixths of the six padded
passes, ratios exp((mean - score) * 3 / 2), gradient hooks as s_m m_m + (1 - s_m) m_m.detach(),
and cap 7 instead of 10. The TF.js side computes the same numbers from the general Shapley form."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import Sgd, linear_to_tf, tolist, write

torch.manual_seed(11)
C, B = 3, 8
alpha = 1.5


class Enc(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.fc = nn.Linear(d_in, 3)
        self.bn = nn.BatchNorm1d(3)  # momentum 0.1, eps 1e-5

    def forward(self, x):
        return F.relu(self.bn(self.fc(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.audio, self.visual = Enc(4), Enc(5)
        self.fusion = nn.Linear(6, C)

    def forward(self, a, v):
        return self.fusion(torch.cat([self.audio(a), self.visual(v)], 1))


net = Net().double()
with torch.no_grad():
    for p in net.parameters():
        p.copy_(torch.randn_like(p) * 0.7)
    net.audio.bn.weight.add_(1.0)
    net.visual.bn.weight.add_(1.0)
init = {k: v.clone() for k, v in net.state_dict().items()}
xa, xv = torch.randn(2, B, 4) * 2, torch.randn(2, B, 5) * 2
ys = torch.randint(0, C, (2, B))

opt = Sgd(net.parameters(), lr=0.1, momentum=0.9, wd=1e-4)
S_a = S_v = 0.0
s_a = s_v = 1.0
n_batches = 2
logs = []
for step in range(2):
    a, v, y = xa[step], xv[step], ys[step]
    net.train()
    total = net(a, v)
    net.eval()
    pad_v = net(a, torch.zeros_like(v))  # f(a, 0)
    pad_a = net(torch.zeros_like(a), v)  # f(0, v)
    net.train()
    m_a = 0.5 * (total - pad_a + pad_v)
    m_v = 0.5 * (total - pad_v + pad_a)
    with torch.no_grad():
        sc_a = -torch.log(F.softmax(m_a, 1).gather(1, y[:, None]).clamp_min(1e-8)).mean().item()
        sc_v = -torch.log(F.softmax(m_v, 1).gather(1, y[:, None]).clamp_min(1e-8)).mean().item()
    r_a, r_v = math.exp(sc_v - sc_a), math.exp(sc_a - sc_v)
    rb_a, rb_v = math.exp(S_v - S_a), math.exp(S_a - S_v)
    c_a = math.exp(alpha * min(rb_a - r_a, 10))
    c_v = math.exp(alpha * min(rb_v - r_v, 10))
    t = 0 * n_batches + step + 1  # epoch 0 (1-based epoch 1)
    S_a = S_a * (t - 1) / t + sc_a / t
    S_v = S_v * (t - 1) / t + sc_v / t
    s_a, s_v = c_a, c_v  # whole run in the window
    E = 0.5 * (s_a + s_v) * total + 0.5 * (s_a - s_v) * pad_v + 0.5 * (s_v - s_a) * pad_a
    out = total.detach() + (E - E.detach())
    loss = F.cross_entropy(out, y)
    opt_params = list(net.parameters())
    for p in opt_params:
        p.grad = None
    loss.backward()
    clipped = bool((net.fusion.weight.grad.abs() > 1).any())
    if clipped:
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    logs.append({'loss': loss.item(), 'score_audio': sc_a, 'score_visual': sc_v, 'scale_audio': s_a,
                 'scale_visual': s_v, 'running_audio': S_a, 'running_visual': S_v, 'clipped': clipped})


def export(sd):
    out = {}
    for m in ('audio', 'visual'):
        out[f'encoder/{m}/fc/kernel'] = tolist(linear_to_tf(sd[f'{m}.fc.weight']))
        out[f'encoder/{m}/fc/bias'] = tolist(sd[f'{m}.fc.bias'])
        out[f'encoder/{m}/bn/gamma'] = tolist(sd[f'{m}.bn.weight'])
        out[f'encoder/{m}/bn/beta'] = tolist(sd[f'{m}.bn.bias'])
        out[f'encoder/{m}/bn/moving_mean'] = tolist(sd[f'{m}.bn.running_mean'])
        out[f'encoder/{m}/bn/moving_variance'] = tolist(sd[f'{m}.bn.running_var'])
    out['fusion/dense_0/kernel'] = tolist(linear_to_tf(sd['fusion.weight']))
    out['fusion/dense_0/bias'] = tolist(sd['fusion.bias'])
    return out


write('agm.json', {'alpha': alpha, 'init': export(init), 'final': export(net.state_dict()),
                   'xa': tolist(xa), 'xv': tolist(xv), 'labels': ys.tolist(), 'logs': logs})
print([(round(l['scale_audio'], 4), round(l['scale_visual'], 4), l['clipped']) for l in logs])


# ---------------------------------------------------------------- three modalities (agm-3.json)
torch.manual_seed(13)
alpha3, cap3 = 1.2, 7.0


class Net3(nn.Module):
    def __init__(self):
        super().__init__()
        self.audio, self.visual, self.text = Enc(4), Enc(5), Enc(3)
        self.fusion = nn.Linear(9, C)

    def forward(self, a, v, t):
        return self.fusion(torch.cat([self.audio(a), self.visual(v), self.text(t)], 1))


net3 = Net3().double()
with torch.no_grad():
    for p in net3.parameters():
        p.copy_(torch.randn_like(p) * 0.7)
    for enc in (net3.audio, net3.visual, net3.text):
        enc.bn.weight.add_(1.0)
init3 = {k: v.clone() for k, v in net3.state_dict().items()}
xa3, xv3, xt3 = torch.randn(2, B, 4) * 2, torch.randn(2, B, 5) * 2, torch.randn(2, B, 3) * 2
ys3 = torch.randint(0, C, (2, B))
opt3 = Sgd(net3.parameters(), lr=0.1, momentum=0.9, wd=1e-4)
S = {'audio': 0.0, 'visual': 0.0, 'text': 0.0}
logs3 = []


def score(z, y):
    return -torch.log(F.softmax(z, 1).gather(1, y[:, None]).clamp_min(1e-8)).mean().item()


for step in range(2):
    a, v, tx, y = xa3[step], xv3[step], xt3[step], ys3[step]
    za, zv, zt = torch.zeros_like(a), torch.zeros_like(v), torch.zeros_like(tx)
    net3.train()
    total = net3(a, v, tx)
    net3.eval()
    pad_a = net3(za, v, tx)
    pad_v = net3(a, zv, tx)
    pad_t = net3(a, v, zt)
    pad_va = net3(za, zv, tx)
    pad_vt = net3(a, zv, zt)
    pad_at = net3(za, v, zt)
    net3.train()
    m = {
        'audio': (total - pad_a + pad_vt) / 3 + (pad_v - pad_at + pad_t - pad_va) / 6,
        'visual': (total - pad_v + pad_at) / 3 + (pad_a - pad_vt + pad_t - pad_va) / 6,
        'text': (total - pad_t + pad_va) / 3 + (pad_v - pad_at + pad_a - pad_vt) / 6,
    }
    with torch.no_grad():
        sc = {k: score(z, y) for k, z in m.items()}
    mean_sc = sum(sc.values()) / 3
    mean_S = sum(S.values()) / 3
    coeff = {}
    for k in m:
        ratio = math.exp((mean_sc - sc[k]) * 3 / 2)
        optimal = math.exp((mean_S - S[k]) * 3 / 2)
        coeff[k] = math.exp(alpha3 * min(optimal - ratio, cap3))
    t = step + 1
    S = {k: S[k] * (t - 1) / t + sc[k] / t for k in S}
    out = sum(coeff[k] * m[k] + (1 - coeff[k]) * m[k].detach() for k in m)
    loss = F.cross_entropy(out, y)
    for p in net3.parameters():
        p.grad = None
    loss.backward()
    clipped = bool((net3.fusion.weight.grad.abs() > 1).any())
    if clipped:
        torch.nn.utils.clip_grad_norm_(net3.parameters(), 1.0)
    opt3.step()
    entry = {'loss': loss.item(), 'clipped': clipped}
    for k in m:
        entry[f'score_{k}'], entry[f'scale_{k}'], entry[f'running_{k}'] = sc[k], coeff[k], S[k]
    logs3.append(entry)


def export3(sd):
    out = {}
    for k in ('audio', 'visual', 'text'):
        out[f'encoder/{k}/fc/kernel'] = tolist(linear_to_tf(sd[f'{k}.fc.weight']))
        out[f'encoder/{k}/fc/bias'] = tolist(sd[f'{k}.fc.bias'])
        out[f'encoder/{k}/bn/gamma'] = tolist(sd[f'{k}.bn.weight'])
        out[f'encoder/{k}/bn/beta'] = tolist(sd[f'{k}.bn.bias'])
        out[f'encoder/{k}/bn/moving_mean'] = tolist(sd[f'{k}.bn.running_mean'])
        out[f'encoder/{k}/bn/moving_variance'] = tolist(sd[f'{k}.bn.running_var'])
    out['fusion/dense_0/kernel'] = tolist(linear_to_tf(sd['fusion.weight']))
    out['fusion/dense_0/bias'] = tolist(sd['fusion.bias'])
    return out


write('agm-3.json', {'alpha': alpha3, 'cap': cap3, 'init': export3(init3),
                     'final': export3(net3.state_dict()), 'xa': tolist(xa3), 'xv': tolist(xv3),
                     'xt': tolist(xt3), 'labels': ys3.tolist(), 'logs': logs3})
print([(round(l['scale_audio'], 4), round(l['scale_visual'], 4), round(l['scale_text'], 4),
        l['clipped']) for l in logs3])
