"""Independent PyTorch reference for @igm/core's fused softmax cross-entropy.

For each case: logits z [B, C] float32, integer labels y [B] in [0, C), and an upstream gradient
dy of the loss; PyTorch computes

    loss = torch.nn.functional.cross_entropy(z, y)          (mean over the batch)
    dz   = d (dy * loss) / d z   = dy * (softmax(z) - onehot(y)) / B

in float32 (its fused log_softmax + nll_loss kernels, another summation order and other exp/log
than tfjs). The tests compare within a tolerance stated there. Logit scales from 0.01 to 30
(nearly uniform to nearly one-hot rows), batch sizes 1 to 64, 2 to 12 classes.

Usage: /usr/bin/python3 tools/reference/core/softmax_cross_entropy.py
Writes packages/core/test/fixtures/softmax-cross-entropy.json.
"""

import json
import os

import torch

torch.manual_seed(20261207)

CASES = [
    dict(batch=1, classes=2, scale=1.0, dy=1.0),
    dict(batch=5, classes=3, scale=0.01, dy=1.0),
    dict(batch=8, classes=10, scale=1.0, dy=1.0),
    dict(batch=17, classes=7, scale=5.0, dy=0.25),
    dict(batch=64, classes=10, scale=2.0, dy=1.0),
    dict(batch=33, classes=12, scale=30.0, dy=-1.5),
    dict(batch=12, classes=2, scale=10.0, dy=3.0),
]


def f32_list(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


cases = []
for c in CASES:
    z = (torch.randn(c['batch'], c['classes']) * c['scale']).float().requires_grad_(True)
    y = torch.randint(0, c['classes'], (c['batch'],))
    loss = torch.nn.functional.cross_entropy(z, y)
    (loss * c['dy']).backward()
    cases.append(
        dict(
            batch=c['batch'],
            classes=c['classes'],
            dy=c['dy'],
            logits=f32_list(z),
            labels=[int(v) for v in y.tolist()],
            loss=float(loss.item()),
            dLogits=f32_list(z.grad),
        )
    )

out = os.path.join(
    os.path.dirname(__file__), '..', '..', '..', 'packages', 'core', 'test', 'fixtures',
    'softmax-cross-entropy.json',
)
with open(os.path.normpath(out), 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': cases}, f)
    f.write('\n')
print(f'wrote {len(cases)} cases to {os.path.normpath(out)}')
