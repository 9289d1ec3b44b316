"""Parity fixtures for @igm/models (independent PyTorch reference, float64).

Writes packages/models/test/fixtures/{per_modality,fusion_heads,batchnorm,resnet}.json.
Weights are drawn in float64, rounded to float32 (so both sides start from identical values) and
exported in the tfjs layout: Dense kernel (in, out) = Linear weight transposed; Conv2D kernel
(kh, kw, in, out) = Conv2d weight permuted (2, 3, 1, 0); activations channels-last.
Run: /usr/bin/python3 tools/reference/models/make_fixtures.py
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'packages', 'models', 'test', 'fixtures')


def f32(t):
    return t.to(torch.float32).to(torch.float64)


def rand(g, *shape, scale=1.0):
    return f32(torch.randn(*shape, generator=g) * scale)


def tolist(t):
    return t.detach().to(torch.float64).tolist()


def linear_tfjs(lin):
    return {'kernel': tolist(lin.weight.t()), 'bias': tolist(lin.bias)}


def conv_kernel_tfjs(w):
    return tolist(w.permute(2, 3, 1, 0))


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def set_random(module, g, scale=0.5):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(rand(g, *p.shape, scale=scale))


class BN(nn.BatchNorm2d):
    """PyTorch BatchNorm2d with momentum 0.1, eps 1e-5 (the defaults), random affine + stats."""


def randomize_bn(bn, g):
    with torch.no_grad():
        bn.weight.copy_(f32(1 + 0.3 * torch.randn(bn.num_features, generator=g)))
        bn.bias.copy_(rand(g, bn.num_features, scale=0.3))
        bn.running_mean.copy_(rand(g, bn.num_features, scale=0.2))
        bn.running_var.copy_(f32(0.5 + torch.rand(bn.num_features, generator=g)))


def bn_export(prefix, bn, out_params, out_stats):
    out_params[f'{prefix}/gamma'] = tolist(bn.weight)
    out_params[f'{prefix}/beta'] = tolist(bn.bias)
    out_stats[f'{prefix}/moving_mean'] = tolist(bn.running_mean)
    out_stats[f'{prefix}/moving_variance'] = tolist(bn.running_var)


def bn_stats(prefix, bn):
    return {f'{prefix}/moving_mean': tolist(bn.running_mean),
            f'{prefix}/moving_variance': tolist(bn.running_var)}


class SmallCnn(nn.Module):
    """pad 1 -> conv3x3 (no bias) -> BN -> ReLU -> maxpool 2/2, per block; global average pool."""

    def __init__(self, cin, filters):
        super().__init__()
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        c = cin
        for f in filters:
            self.convs.append(nn.Conv2d(c, f, 3, padding=1, bias=False))
            self.bns.append(BN(f))
            c = f

    def forward(self, x):
        for conv, bn in zip(self.convs, self.bns):
            x = F.max_pool2d(F.relu(bn(conv(x))), 2, 2)
        return x.mean(dim=(2, 3))

    def export(self, prefix, params, stats):
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            params[f'{prefix}/block{i}.conv/kernel'] = conv_kernel_tfjs(conv.weight)
            bn_export(f'{prefix}/block{i}.bn', bn, params, stats)

    def stats(self, prefix):
        out = {}
        for i, bn in enumerate(self.bns):
            out.update(bn_stats(f'{prefix}/block{i}.bn', bn))
        return out


class Mlp(nn.Module):
    def __init__(self, d, units):
        super().__init__()
        self.fcs = nn.ModuleList()
        for u in units:
            self.fcs.append(nn.Linear(d, u))
            d = u

    def forward(self, x):
        for fc in self.fcs:
            x = F.relu(fc(x))
        return x

    def export(self, prefix, params):
        for i, fc in enumerate(self.fcs):
            lt = linear_tfjs(fc)
            params[f'{prefix}/fc{i}/kernel'] = lt['kernel']
            params[f'{prefix}/fc{i}/bias'] = lt['bias']


def ce(logits, y):
    return F.cross_entropy(logits, y)


def grads_of(loss, named):
    names = list(named.keys())
    gs = torch.autograd.grad(loss, [named[n] for n in names], retain_graph=True)
    return names, gs


def entropy_sample(logits_list):
    # H_m(i) = -sum_c p log p (softmax over classes), w = exp(Hmax - H) / sum
    H = torch.stack([-(F.softmax(l, 1) * F.log_softmax(l, 1)).sum(1) for l in logits_list], 1)
    hmax = H.max(1, keepdim=True).values
    w = torch.exp(hmax - H)
    w = w / w.sum(1, keepdim=True)
    return sum(w[:, m:m + 1] * l for m, l in enumerate(logits_list))


def entropy_batch(logits_list):
    # MLA released code: softmax over dim 0, entropy summed over batch x classes.
    H = [-(F.softmax(l, 0) * torch.log(F.softmax(l, 0))).sum() for l in logits_list]
    hmax = max(H)
    w = [torch.exp(hmax - h) for h in H]
    s = sum(w)
    return sum((wi / s) * l for wi, l in zip(w, logits_list))


def per_modality(g):
    """Two modalities, IGM-style heads (hidden 5 relu -> 4 -> C=3).

    a: feature vector (B, 5) -> Mlp [4]; b: frames (B, T=2, 1, 6, 6) -> SmallCnn [2, 3], frames
    folded into the batch and averaged.
    """
    B, T, C = 4, 2, 3
    enc_a = Mlp(5, [4])
    enc_b = SmallCnn(1, [2, 3])
    head_a = nn.ModuleList([nn.Linear(4, 5), nn.Linear(5, 4), nn.Linear(4, C)])
    head_b = nn.ModuleList([nn.Linear(3, 5), nn.Linear(5, 4), nn.Linear(4, C)])
    for mod in (enc_a, enc_b, head_a, head_b):
        set_random(mod, g)
    for bn in enc_b.bns:
        randomize_bn(bn, g)
    params, stats = {}, {}
    enc_a.export('encoder/a', params)
    enc_b.export('encoder/b', params, stats)
    for m, head in (('a', head_a), ('b', head_b)):
        for i, lin in enumerate(head):
            lt = linear_tfjs(lin)
            params[f'head/{m}/dense_{i}/kernel'] = lt['kernel']
            params[f'head/{m}/dense_{i}/bias'] = lt['bias']

    xa = rand(g, B, 5)
    xb = rand(g, B, T, 1, 6, 6)
    y = torch.tensor([0, 2, 1, 2])

    def head_fwd(head, f):
        inputs = [f]
        h = F.relu(head[0](f))
        inputs.append(h)
        h = head[1](h)
        inputs.append(h)
        return head[2](h), inputs

    def forward():
        fa = enc_a(xa)
        fb = enc_b(xb.reshape(B * T, 1, 6, 6)).reshape(B, T, -1).mean(1)
        la, ia = head_fwd(head_a, fa)
        lb, ib = head_fwd(head_b, fb)
        return fa, fb, la, lb, ia, ib

    enc_b.train()
    fa, fb, la, lb, ia, ib = forward()
    loss = ce(la, y) + ce(lb, y)
    named = {}
    for k, p in [('encoder/a/fc0/kernel', enc_a.fcs[0].weight), ('encoder/a/fc0/bias', enc_a.fcs[0].bias)]:
        named[k] = p
    for i, (conv, bn) in enumerate(zip(enc_b.convs, enc_b.bns)):
        named[f'encoder/b/block{i}.conv/kernel'] = conv.weight
        named[f'encoder/b/block{i}.bn/gamma'] = bn.weight
        named[f'encoder/b/block{i}.bn/beta'] = bn.bias
    for m, head in (('a', head_a), ('b', head_b)):
        for i, lin in enumerate(head):
            named[f'head/{m}/dense_{i}/kernel'] = lin.weight
            named[f'head/{m}/dense_{i}/bias'] = lin.bias
    names, gs = grads_of(loss, named)
    grads = {}
    for n, gr in zip(names, gs):
        if n.endswith('kernel') and gr.dim() == 2:
            gr = gr.t()
        elif gr.dim() == 4:
            gr = gr.permute(2, 3, 1, 0)
        grads[n] = tolist(gr)
    stats_after = enc_b.stats('encoder/b')
    fused = {
        'mean-softmax': tolist((F.softmax(la, 1) + F.softmax(lb, 1)) / 2),
        'fixed': tolist(F.softmax(0.55 * la + 0.45 * lb, 1)),
        'entropy-sample': tolist(F.softmax(entropy_sample([la, lb]), 1)),
        'entropy-batch': tolist(F.softmax(entropy_batch([la, lb]), 1)),
    }
    enc_b.eval()
    with torch.no_grad():
        _, _, la_e, lb_e, _, _ = forward()
    return {
        'description': 'per-modality IGM-style heads; a: Mlp [4] on (B,5); b: SmallCnn [2,3] on frames (B,2,6,6,1)',
        'numClasses': C,
        'params': params,
        'nonTrainable': stats,
        'inputs': {'a': tolist(xa), 'b': tolist(xb.permute(0, 1, 3, 4, 2))},
        'labels': y.tolist(),
        'train': {
            'features': {'a': tolist(fa), 'b': tolist(fb)},
            'logits': {'a': tolist(la), 'b': tolist(lb)},
            'headInputs': {'a': [tolist(t) for t in ia], 'b': [tolist(t) for t in ib]},
            'loss': loss.item(),
            'grads': grads,
            'fused': fused,
            'nonTrainableAfter': stats_after,
        },
        'eval': {'logits': {'a': tolist(la_e), 'b': tolist(lb_e)}},
    }


def fusion_heads(g):
    """Concat and sum fusion over two Mlp encoders (a: 5 -> [4], b: 3 -> [6]), C = 3."""
    B, C = 5, 3
    enc_a, enc_b = Mlp(5, [4]), Mlp(3, [6])
    concat = nn.Linear(10, C)
    fc_a, fc_b = nn.Linear(4, C), nn.Linear(6, C)
    for mod in (enc_a, enc_b, concat, fc_a, fc_b):
        set_random(mod, g)
    xa, xb = rand(g, B, 5), rand(g, B, 3)
    y = torch.tensor([1, 0, 2, 2, 1])
    enc_params = {}
    enc_a.export('encoder/a', enc_params)
    enc_b.export('encoder/b', enc_params)

    def enc_named():
        return {'encoder/a/fc0/kernel': enc_a.fcs[0].weight, 'encoder/a/fc0/bias': enc_a.fcs[0].bias,
                'encoder/b/fc0/kernel': enc_b.fcs[0].weight, 'encoder/b/fc0/bias': enc_b.fcs[0].bias}

    def export_grads(names, gs):
        return {n: tolist(gr.t() if gr.dim() == 2 else gr) for n, gr in zip(names, gs)}

    a, b = enc_a(xa), enc_b(xb)
    # concat: out = [a; b] W^T + c; out_a = a W[:, :4]^T + c/2; out_b = b W[:, 4:]^T + c/2
    out = concat(torch.cat([a, b], 1))
    out_a = a @ concat.weight[:, :4].t() + concat.bias / 2
    out_b = b @ concat.weight[:, 4:].t() + concat.bias / 2
    named = enc_named()
    named['fusion/dense_0/kernel'] = concat.weight
    named['fusion/dense_0/bias'] = concat.bias
    names, gs = grads_of(ce(out, y), named)
    concat_fx = {
        'params': {**enc_params, 'fusion/dense_0/kernel': linear_tfjs(concat)['kernel'],
                   'fusion/dense_0/bias': linear_tfjs(concat)['bias']},
        'logits': {'fused': tolist(out), 'a': tolist(out_a), 'b': tolist(out_b)},
        'loss': ce(out, y).item(),
        'grads': export_grads(names, gs),
    }
    # sum: out = fc_a(a) + fc_b(b); training out_m = fc_m(m); eval out_m = m W_m^T + b_m/2
    out = fc_a(a) + fc_b(b)
    named = enc_named()
    named['fusion/a/kernel'] = fc_a.weight
    named['fusion/a/bias'] = fc_a.bias
    named['fusion/b/kernel'] = fc_b.weight
    named['fusion/b/bias'] = fc_b.bias
    names, gs = grads_of(ce(out, y), named)
    sum_fx = {
        'params': {**enc_params,
                   'fusion/a/kernel': linear_tfjs(fc_a)['kernel'], 'fusion/a/bias': linear_tfjs(fc_a)['bias'],
                   'fusion/b/kernel': linear_tfjs(fc_b)['kernel'], 'fusion/b/bias': linear_tfjs(fc_b)['bias']},
        'logits': {'fused': tolist(out), 'a': tolist(fc_a(a)), 'b': tolist(fc_b(b))},
        'evalLogits': {'a': tolist(a @ fc_a.weight.t() + fc_a.bias / 2),
                       'b': tolist(b @ fc_b.weight.t() + fc_b.bias / 2)},
        'loss': ce(out, y).item(),
        'grads': export_grads(names, gs),
    }
    return {'description': 'concat and sum fusion heads over Mlp encoders a: 5->[4], b: 3->[6]',
            'numClasses': C, 'inputs': {'a': tolist(xa), 'b': tolist(xb)}, 'labels': y.tolist(),
            'concat': concat_fx, 'sum': sum_fx}


def batchnorm(g):
    """BatchNorm2d(3) (momentum 0.1, eps 1e-5): two training forwards, one eval forward, grads."""
    bn = BN(3)
    randomize_bn(bn, g)
    params, stats = {}, {}
    bn_export('bn', bn, params, stats)
    x1 = rand(g, 4, 3, 2, 3, scale=2.0) + 0.5
    x2 = rand(g, 2, 3, 3, 2)
    x3 = rand(g, 3, 3, 2, 2)
    r = rand(g, 4, 3, 2, 3)
    bn.train()
    x1v = x1.clone().requires_grad_(True)
    y1 = bn(x1v)
    gx, gg, gb = torch.autograd.grad((y1 * r).sum(), [x1v, bn.weight, bn.bias])
    after1 = bn_stats('bn', bn)
    with torch.no_grad():
        y2 = bn(x2)
    after2 = bn_stats('bn', bn)
    bn.eval()
    with torch.no_grad():
        y3 = bn(x3)
    return {
        'params': params, 'nonTrainable': stats,
        'x1': tolist(nhwc(x1)), 'x2': tolist(nhwc(x2)), 'x3': tolist(nhwc(x3)), 'r': tolist(nhwc(r)),
        'y1': tolist(nhwc(y1)), 'y2': tolist(nhwc(y2)), 'y3': tolist(nhwc(y3)),
        'grads': {'x': tolist(nhwc(gx)), 'bn/gamma': tolist(gg), 'bn/beta': tolist(gb)},
        'after1': after1, 'after2': after2,
    }


class Block(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = BN(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = BN(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), BN(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        idn = x if self.downsample is None else self.downsample(x)
        return F.relu(out + idn)


class ResNet18(nn.Module):
    def __init__(self, cin, widths):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, widths[0], 7, 2, 3, bias=False)
        self.bn1 = BN(widths[0])
        c = widths[0]
        for s, w in enumerate(widths):
            blocks = []
            for b in range(2):
                stride = 2 if s > 0 and b == 0 else 1
                blocks.append(Block(c, w, stride))
                c = w
            setattr(self, f'layer{s + 1}', nn.Sequential(*blocks))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for s in range(4):
            x = getattr(self, f'layer{s + 1}')(x)
        return x.mean(dim=(2, 3))


def tfjs_key(name):
    # 'layer1.0.conv1.weight' -> 'layer1.0.conv1/kernel'; BN weight/bias/running_* -> gamma/...
    mod, leaf = name.rsplit('.', 1)
    return mod, leaf


def resnet(g):
    """ResNet-18 with widths [4, 4, 8, 8], 1 input channel, odd input 37x41, batch 4.

    The input is large enough that layer4 still has 2x2 positions (n = 16 values per BN channel);
    with n = 2 the BN backward is so ill-conditioned that torch's own float32 run is 1e-4 off.
    """
    net = ResNet18(1, [4, 4, 8, 8])
    params, stats, named = {}, {}, {}
    with torch.no_grad():
        for name, mod in net.named_modules():
            if isinstance(mod, nn.Conv2d):
                mod.weight.copy_(rand(g, *mod.weight.shape, scale=(2.0 / (mod.weight[0].numel())) ** 0.5))
                params[f'{name}/kernel'] = conv_kernel_tfjs(mod.weight)
                named[f'{name}/kernel'] = mod.weight
            elif isinstance(mod, nn.BatchNorm2d):
                randomize_bn(mod, g)
                bn_export(name, mod, params, stats)
                named[f'{name}/gamma'] = mod.weight
                named[f'{name}/beta'] = mod.bias
    x = rand(g, 4, 1, 37, 41)
    r = rand(g, 4, 8)
    net.train()
    f = net(x)
    names, gs = grads_of((f * r).sum(), named)
    grads = {n: tolist(gr.permute(2, 3, 1, 0) if gr.dim() == 4 else gr) for n, gr in zip(names, gs)}
    after = {}
    for name, mod in net.named_modules():
        if isinstance(mod, nn.BatchNorm2d):
            after.update(bn_stats(name, mod))
    net.eval()
    with torch.no_grad():
        f_eval = net(x)
    return {'description': 'resnet18 widths [4,4,8,8], input (4, 37, 41, 1)', 'params': params,
            'nonTrainable': stats, 'x': tolist(nhwc(x)), 'r': tolist(r), 'train': tolist(f),
            'grads': grads, 'nonTrainableAfter': after, 'eval': tolist(f_eval)}


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(20250)
    for name, fn in (('per_modality', per_modality), ('fusion_heads', fusion_heads),
                     ('batchnorm', batchnorm), ('resnet', resnet)):
        data = fn(g)
        data['generator'] = 'tools/reference/models/make_fixtures.py (torch %s, float64)' % torch.__version__
        with open(os.path.join(OUT, f'{name}.json'), 'w') as fh:
            json.dump(data, fh)
        print('wrote', name)


if __name__ == '__main__':
    main()
