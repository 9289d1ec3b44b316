"""Parity fixture for the linear probe's fit (packages/trainer/src/probe.ts).

Independent reference: PyTorch in float64. The features are standardised with the train rows'
mean and population std (std 0 -> scale 1), then multinomial logistic regression

    L(W, b) = mean_i CE(x_i W + b, y_i) + (l2 / 2) ||W||_F^2      (b not penalised)

is minimised by torch.optim.LBFGS with a strong-Wolfe line search run to a gradient tolerance far
below the TS fit's (1e-13), so W and b are the unique minimiser to ~1e-10; the TS fit (its own
L-BFGS, Armijo backtracking, tolerance 1e-6) must land on the same point. Writes
packages/trainer/test/fixtures/linear-probe.json.

Run: /usr/bin/python3 tools/reference/trainer/linear_probe.py
"""
import json
import pathlib

import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parents[3] / "packages/trainer/test/fixtures/linear-probe.json"
torch.set_default_dtype(torch.float64)


def make_case(seed, n_train, n_test, d, C, spread, constant_feature):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(C, d, generator=g) * spread

    def draw(n):
        y = torch.arange(n) % C
        x = centres[y] + torch.randn(n, d, generator=g)
        x = x * torch.linspace(0.5, 3.0, d) + torch.linspace(-1.0, 2.0, d)  # unequal scales
        if constant_feature:
            x[:, 0] = 0.7
        return x.float().double(), y  # float32-representable inputs, as the TS side stores them

    return draw(n_train), draw(n_test)


def fit(x, y, C, l2):
    n, d = x.shape
    mean = x.mean(0)
    std = x.std(0, unbiased=False)
    scale = torch.where(std > 1e-12, std, torch.ones_like(std))
    xs = (x - mean) / scale
    W = torch.zeros(d, C, requires_grad=True)
    b = torch.zeros(C, requires_grad=True)
    opt = torch.optim.LBFGS(
        [W, b], lr=1, max_iter=20000, tolerance_grad=1e-13, tolerance_change=0,
        history_size=20, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xs @ W + b, y) + 0.5 * l2 * (W * W).sum()
        loss.backward()
        return loss

    opt.step(closure)
    loss = closure()
    grad_max = max(W.grad.abs().max().item(), b.grad.abs().max().item())
    return mean, scale, W.detach(), b.detach(), loss.item(), grad_max


cases = []
for name, seed, n_train, n_test, d, C, spread, const, l2 in [
    ('overlapping, 3 classes', 1, 150, 90, 6, 3, 1.0, False, 1e-3),
    ('well separated, 4 classes, a constant feature', 2, 160, 80, 8, 4, 4.0, True, 1e-3),
    ('stronger penalty', 3, 120, 60, 5, 3, 1.5, False, 1e-1),
]:
    (xtr, ytr), (xte, yte) = make_case(seed, n_train, n_test, d, C, spread, const)
    mean, scale, W, b, loss, gmax = fit(xtr, ytr, C, l2)
    pred = (((xte - mean) / scale) @ W + b).argmax(1)
    cases.append({
        'name': name, 'l2': l2, 'numClasses': C, 'dim': d,
        'xTrain': xtr.flatten().tolist(), 'yTrain': ytr.tolist(),
        'xTest': xte.flatten().tolist(), 'yTest': yte.tolist(),
        'mean': mean.tolist(), 'scale': scale.tolist(),
        'weights': W.flatten().tolist(), 'bias': b.tolist(), 'loss': loss,
        'referenceGradMax': gmax,
        'testPredictions': pred.tolist(),
        'testAccuracy': (pred == yte).double().mean().item(),
    })
    print(name, 'loss', loss, 'grad max', gmax, 'test acc', cases[-1]['testAccuracy'])

OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps({'cases': cases}))
print('wrote', OUT)
