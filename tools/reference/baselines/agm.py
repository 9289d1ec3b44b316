"""AGM reference (ALGORITHMS.md 6): two SGD steps of a tiny two-encoder model (Linear -> BN ->
ReLU per modality, concat fusion). Zeroed passes run with BN in inference mode and gradients
flowing; the backward reweighting uses the detach trick (the TF.js side uses tf.customGrad)."""
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
