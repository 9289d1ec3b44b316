"""PyTorch reference for the fused training-mode BatchNorm kernels (IgmBatchNormTraining / Grad).

Writes packages/models/test/fixtures/batch_norm_kernels.json: for each case, torch.nn.BatchNorm2d
(or BatchNorm1d for [B, C]) in training mode, float32 throughout, momentum 0.1, eps 1e-5, on a
random input with per-channel offsets and scales, followed by ReLU and the loss
sum(w * relu(y)); the forward output y, the batch mean and biased variance, the running mean and
variance after the update (unbiased variance, as PyTorch), and dx, dgamma, dbeta of that loss.
Everything is exported channels-last (tfjs layout: NHWC). The test compares the fused kernels to
these values within float32 rounding (PyTorch sums in another order).
Run: /usr/bin/python3 tools/reference/models/batch_norm_kernels.py
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'packages', 'models', 'test',
                   'fixtures', 'batch_norm_kernels.json')

# Channels-last shapes: [B, C] (BatchNorm1d) and [B, H, W, C] (BatchNorm2d).
SHAPES = [[6, 5], [4, 5, 6, 3], [2, 7, 7, 13], [8, 4, 4, 16]]


def tolist(t):
    return t.detach().to(torch.float64).reshape(-1).tolist()


def case(g, shape):
    C = shape[-1]
    x = torch.randn(*shape, generator=g, dtype=torch.float32)
    x = x * (1 + torch.arange(C, dtype=torch.float32)) + 0.3 * torch.arange(C, dtype=torch.float32)
    gamma = (1 + 0.3 * torch.randn(C, generator=g)).to(torch.float32)
    beta = (0.3 * torch.randn(C, generator=g)).to(torch.float32)
    w = torch.randn(*shape, generator=g, dtype=torch.float32)
    if len(shape) == 2:
        bn = torch.nn.BatchNorm1d(C, eps=1e-5, momentum=0.1)
        to_torch = lambda t: t
        from_torch = lambda t: t
    else:
        bn = torch.nn.BatchNorm2d(C, eps=1e-5, momentum=0.1)
        to_torch = lambda t: t.permute(0, 3, 1, 2).contiguous()
        from_torch = lambda t: t.permute(0, 2, 3, 1).contiguous()
    bn = bn.to(torch.float32).train()
    with torch.no_grad():
        bn.weight.copy_(gamma)
        bn.bias.copy_(beta)
    xt = to_torch(x).clone().requires_grad_(True)
    y = bn(xt)
    loss = (to_torch(w) * torch.relu(y)).sum()
    loss.backward()
    axes = [0] if len(shape) == 2 else [0, 2, 3]
    mean = xt.detach().mean(dim=axes)
    var = xt.detach().var(dim=axes, unbiased=False)
    return {
        'shape': shape,
        'x': tolist(x), 'gamma': tolist(gamma), 'beta': tolist(beta), 'w': tolist(w),
        'y': tolist(from_torch(y)), 'mean': tolist(mean), 'variance': tolist(var),
        'runningMean': tolist(bn.running_mean), 'runningVariance': tolist(bn.running_var),
        'dx': tolist(from_torch(xt.grad)), 'dgamma': tolist(bn.weight.grad),
        'dbeta': tolist(bn.bias.grad),
    }


def main():
    g = torch.Generator().manual_seed(20250711)
    data = {
        'source': 'tools/reference/models/batch_norm_kernels.py (torch %s, float32)' % torch.__version__,
        'epsilon': 1e-5,
        'momentum': 0.1,
        'cases': [case(g, s) for s in SHAPES],
    }
    with open(OUT, 'w') as fh:
        json.dump(data, fh)
    print('wrote', OUT, [c['shape'] for c in data['cases']])


if __name__ == '__main__':
    main()
