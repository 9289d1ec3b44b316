"""The demo grid in PyTorch: the work of

    igm compare --dataset av-mnist-imbalanced --methods joint,ogm-ge,pmr,agm,mla,igm --preset quick

written as an ordinary PyTorch script, the reference of the whole-demo bench
(packages/cli/bench/demo-grid.ts). Independent code, written from the project's algorithm
descriptions (docs/algorithms/) and the resolved plan of `igm compare ... --dry-run --json`.

Usage (torch 1.13 CPU, /usr/bin/python3):

    /usr/bin/python3 torch_demo_grid.py --data DIR [--plan PLAN.json] [--threads 1] [--jobs 1]
        [--seeds 1] [--seed 0] [--json FILE]

DIR holds the arrays the TS loader produces (packages/cli/bench/demo-grid/export-data.ts): the
same samples in the same canonical order. PLAN.json is the plan of the grid as
`igm compare ... --dry-run --json` prints it: every run's method, seed, epochs and resolved options
(learning rate, epoch windows, IGM's stage list...), so both sides run the same grid by
construction; without it, the quick plan below (60 epochs per modality) with --seeds/--seed. Prints one line per run (accuracies, so a reader sees
that it trains) and, with --json, writes every run's figures and the wall time of the grid.
--threads T: T threads in each process (torch.set_num_threads and OMP/OpenBLAS/MKL, set before
torch is imported). --jobs J: J worker processes (spawned), each with T threads, taking the runs in
plan order as they free up (as `igm compare --jobs J`).

The grid (quick preset, 60 epochs per modality; batch 64, drop_last; SGD lr 0.01, momentum 0.9,
weight decay 1e-4, constant rate; the plan's order: the methods, then the `unimodal` probe
reference, seeds inside each method):
  encoders   flatten -> Linear(d, 64) -> ReLU per modality, PyTorch's default Linear init
  joint      concat head Linear(128, C) (Xavier-normal, zero bias), CE                60 epochs
  ogm-ge     joint + OGM-GE on every encoder tensor, alpha 0.8, window epochs 0-30,
             GE noise (std of the unscaled gradient)                                    60 epochs
  pmr        joint + prototype CE of the weaker modality, alpha 2, window epochs 0-42,
             prototypes from floor(n_B / 10) shuffled train batches before epoch 0 and after
             every epoch (momentum 0)                                                   60 epochs
  agm        concat head; 3 passes per step (full, audio only, visual only), Shapley logits,
             backward reweighting (detach trick), alpha 2.5, cap 10, whole run;
             conditional clip (any |fusion kernel grad| > 1: global norm clipped to 1)  60 epochs
  mla        shared head Linear(64, C) (Xavier); per batch one step per modality (audio,
             then visual) with the OWM projection P of the head kernel gradient ('scalar'
             form, P normalised), entropy-weighted fusion per sample                   60 epochs
  igm        per-modality heads Linear(64, 256) -> ReLU -> Linear(256, 64) -> Linear(64, C)
             (default init), stages audio 10, visual 20, x 6; at each boundary the best
             weights are reloaded, the optimizer is new, and T is rebuilt from the batch-mean
             second moments of the inputs of the previous modality's head layers over one pass
             of the training data (tau 0.4); step: SAM (rho 0.05, global norm), the head kernel
             gradients times T (from stage 1), SGD. Fused: mean of the softmaxes.       180 epochs
  unimodal   one encoder + Linear(64, C) (Xavier) per modality, sum of the two CEs, fused by
             the mean of the softmaxes (probe reference)                                60 epochs
Every epoch: accuracy, macro-F1 and mAP of the fused output and of each modality on validation
and test; the best epoch on validation macro-F1 is kept (its weights saved to disk, as a
checkpoint), and the last weights with the optimizer state are saved every epoch. After a run:
the best weights, the fused test accuracy of the 4 modality coalitions (inputs zeroed), and a
linear probe of each encoder (features of train and test, standardised, multinomial logistic
regression with L2 1e-3 by L-BFGS in float64, at most 200 iterations).

The steps restate those of the fixture generators in tools/reference/baselines (ogm_ge.py, pmr.py,
agm.py, mla.py, joint_unimodal.py) and tools/reference/igm (igm_steps_reference.py: SAM with the
global norm and restore, T = V exp(-tau (s - s_min)/(s_max - s_min)) V^T, G_W <- G_W T) with the
same formulas; those scripts write their fixtures when run (module-level code), so they cannot be
imported, and their steps are written here in the form of a training loop.

Differences from the TS runs (same work, different arithmetic or RNG): PyTorch's RNG for the
initialisation, the shuffles and the GE noise; T by torch.linalg.eigh at every size (the TS side
uses a Lanczos/expm route above 64 dimensions); the probe's L-BFGS is torch.optim.LBFGS with a
strong-Wolfe line search (the TS fit uses its own L-BFGS with Armijo backtracking), same
objective and stopping tolerance. The figures need not match ours number for number.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', required=True, help='folder written by export-data.ts')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--jobs', type=int, default=1)
    p.add_argument('--seeds', type=int, default=1)
    p.add_argument('--seed', type=int, default=0, help='first seed')
    p.add_argument('--plan', help='the JSON of igm compare --dry-run --json')
    p.add_argument('--no-probe', action='store_true', help='no linear probe')
    p.add_argument('--json', help='write the results here')
    return p.parse_args(argv)


ARGS = parse_args(sys.argv[1:]) if __name__ == '__main__' else None
if ARGS is not None:
    # Before torch is loaded: OpenBLAS and OpenMP read these when they start their pools.
    for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[var] = str(ARGS.threads)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_blas import blas_library  # noqa: E402  (tools/reference/torch_blas.py)

METHODS = ['joint', 'ogm-ge', 'pmr', 'agm', 'mla', 'igm', 'unimodal']
MODS = ['audio', 'visual']
BATCH = 64
BASE = {'learningRate': 0.01, 'momentum': 0.9, 'weightDecay': 1e-4, 'lrStepSize': None, 'lrGamma': 0.1}


def quick_plan(seeds):
    """The quick preset's plan for av-mnist-imbalanced (as `--dry-run --json` prints it)."""
    options = {
        'joint': {'fusion': 'concat', 'epochs': 60},
        'ogm-ge': {'alpha': 0.8, 'window': {'start': 0, 'end': 30}, 'epochs': 60, 'tensors': 'encoder'},
        'pmr': {'alpha': 2, 'protoMomentum': 0, 'window': {'start': 0, 'end': 42}, 'epochs': 60},
        'agm': {'alpha': 2.5, 'epochs': 60},
        'mla': {'projection': 'paper', 'fusionWeights': 'entropy', 'entropyAxis': 'sample', 'epochs': 60},
        'igm': {'epochList': [10, 20] * 6, 'lrStepSize': 40, 'tau': 0.4},
        'unimodal': {'epochs': 60},
    }
    runs = []
    for method in METHODS:
        o = {**BASE, **options[method]}
        epochs = sum(o['epochList']) if method == 'igm' else o['epochs']
        runs += [{'method': method, 'seed': s, 'epochs': epochs, 'batchSize': BATCH, 'options': o} for s in seeds]
    return runs


def check_plan(runs):
    for r in runs:
        if r['method'] not in METHODS:
            raise SystemExit(f"plan: method {r['method']!r} is not in this script; known: {', '.join(METHODS)}")
        if r.get('batchSize', BATCH) != BATCH:
            raise SystemExit(f"plan: {r['method']} has batchSize {r['batchSize']}; this script trains with {BATCH}")
        o = r['options']
        if r['method'] in ('joint', 'ogm-ge', 'pmr') and o.get('fusion', 'concat') != 'concat':
            raise SystemExit(f"plan: {r['method']} fusion {o['fusion']!r}; this script has the concat head only")
        if r['method'] == 'ogm-ge' and (o.get('tensors') != 'encoder' or o.get('noise', True) is not True):
            raise SystemExit('plan: ogm-ge needs tensors "encoder" with GE noise (the quick preset)')
        if r['method'] == 'mla' and (o.get('projection') != 'paper' or o.get('fusionWeights') != 'entropy'
                                     or o.get('entropyAxis') != 'sample'):
            raise SystemExit('plan: mla needs projection "paper" and per-sample entropy fusion (the quick preset)')
        if r['method'] == 'unimodal' and o.get('fusion', 'mean-softmax') != 'mean-softmax':
            raise SystemExit('plan: unimodal needs fusion "mean-softmax"')
        if r['method'] == 'igm' and (o.get('variant', 'paper') != 'paper' or o.get('mixup')):
            raise SystemExit('plan: igm needs the paper variant without mixup')
        if o.get('optimizer', 'sgd') != 'sgd':
            raise SystemExit(f"plan: {r['method']} optimizer {o['optimizer']!r}; this script has SGD only")


# ----------------------------------------------------------------------------------------- data

def load_data(folder):
    with open(os.path.join(folder, 'meta.json')) as f:
        meta = json.load(f)
    data = {}
    for split, n in meta['splits'].items():
        xs = {}
        for m in meta['modalities']:
            with open(os.path.join(folder, f"{split}.{m['name']}.f32"), 'rb') as f:
                raw = bytearray(f.read())
            x = torch.frombuffer(raw, dtype=torch.float32)
            xs[m['name']] = x.reshape(n, -1).clone()  # flattened [n, prod(shape)] (NHWC order)
        with open(os.path.join(folder, f'{split}.labels.i32'), 'rb') as f:
            y = torch.frombuffer(bytearray(f.read()), dtype=torch.int32).long().clone()
        data[split] = (xs, y)
    return meta, data


def train_batches(data, gen):
    """One epoch: a fresh permutation, batches of 64, the last incomplete one dropped."""
    xs, y = data['train']
    n = len(y)
    perm = torch.randperm(n, generator=gen)
    for s in range(0, n - BATCH + 1, BATCH):
        idx = perm[s:s + BATCH]
        yield {m: x[idx] for m, x in xs.items()}, y[idx]


def eval_batches(data, split):
    """Canonical order, the last partial batch kept."""
    xs, y = data[split]
    for s in range(0, len(y), BATCH):
        yield {m: x[s:s + BATCH] for m, x in xs.items()}, y[s:s + BATCH]


# --------------------------------------------------------------------------------------- models

class Encoder(nn.Module):
    """flatten -> Linear(d, 64) -> ReLU (PyTorch's default Linear initialisation)."""

    def __init__(self, d_in, units=64):
        super().__init__()
        self.fc = nn.Linear(d_in, units)

    def forward(self, x):
        return F.relu(self.fc(x))


def xavier_linear(d_in, d_out):
    lin = nn.Linear(d_in, d_out)
    nn.init.xavier_normal_(lin.weight)
    nn.init.zeros_(lin.bias)
    return lin


class ConcatModel(nn.Module):
    """Encoders + one Linear on [f_a; f_v]; per-modality logits are the weight slices + b/2."""

    def __init__(self, dims, C):
        super().__init__()
        self.enc = nn.ModuleDict({m: Encoder(d) for m, d in dims.items()})
        self.fusion = xavier_linear(64 * len(dims), C)

    def features(self, xs):
        return {m: self.enc[m](xs[m]) for m in MODS}

    def forward(self, xs):
        f = self.features(xs)
        fused = self.fusion(torch.cat([f[m] for m in MODS], 1))
        return fused, f

    def slice_logits(self, f):
        W, b = self.fusion.weight, self.fusion.bias
        return {m: f[m] @ W[:, 64 * i:64 * (i + 1)].t() + b / len(MODS) for i, m in enumerate(MODS)}

    def outputs(self, xs):
        """Inference outputs: fused logits and per-modality logits."""
        fused, f = self(xs)
        return {'fused': fused, **self.slice_logits(f)}


def zeroed(xs, keep):
    return {m: (x if m in keep else torch.zeros_like(x)) for m, x in xs.items()}


class AgmModel(ConcatModel):
    """Concat model whose per-modality outputs are the Shapley logits of 3 passes."""

    def shapley(self, xs):
        total, _ = self(xs)
        only_a, _ = self(zeroed(xs, ['audio']))   # f(a, 0)
        only_v, _ = self(zeroed(xs, ['visual']))  # f(0, v)
        m_a = 0.5 * (total - only_v + only_a)
        m_v = 0.5 * (total - only_a + only_v)
        return total, only_a, only_v, {'audio': m_a, 'visual': m_v}

    def outputs(self, xs):
        total, _, _, m = self.shapley(xs)
        return {'fused': total, **m}


class LateModel(nn.Module):
    """Encoders + a head per modality (unimodal, IGM) or one shared head (MLA)."""

    def __init__(self, dims, C, head, fusion):
        super().__init__()
        self.enc = nn.ModuleDict({m: Encoder(d) for m, d in dims.items()})
        self.fusion_rule = fusion
        if head == 'shared':
            self.shared = xavier_linear(64, C)
            self.heads = None
        elif head == 'linear':
            self.heads = nn.ModuleDict({m: xavier_linear(64, C) for m in MODS})
        else:  # IGM: Linear(64, 256) -> ReLU -> Linear(256, 64) -> Linear(64, C), default init
            self.heads = nn.ModuleDict({
                m: nn.ModuleList([nn.Linear(64, 256), nn.Linear(256, 64), nn.Linear(64, C)])
                for m in MODS})
        self.igm = head == 'igm'

    def head(self, m, f, record=None):
        if self.heads is None:
            return self.shared(f)
        if not self.igm:
            return self.heads[m](f)
        layers = self.heads[m]
        h = f
        for i, lin in enumerate(layers):
            if record is not None:
                record.append(h)
            h = lin(h)
            if i == 0:
                h = F.relu(h)
        return h

    def logits(self, m, x, record=None):
        return self.head(m, self.enc[m](x), record)

    def outputs(self, xs):
        out = {m: self.logits(m, xs[m]) for m in MODS}
        if self.fusion_rule == 'mean-softmax':
            probs = sum(F.softmax(out[m], 1) for m in MODS) / len(MODS)
            out['fused'] = torch.log(probs.clamp_min(1e-30))  # argmax and ranking as probs
        else:  # entropy (MLA, per sample): w_m = softmax_m(-H_m)
            ent = torch.stack([-(F.softmax(out[m], 1) * F.log_softmax(out[m], 1)).sum(1) for m in MODS], 1)
            w = F.softmax(-ent, 1)
            out['fused'] = sum(w[:, i:i + 1] * out[m] for i, m in enumerate(MODS))
        return out


def features_of(model, xs):
    return {m: model.enc[m](xs[m]) for m in MODS}


# -------------------------------------------------------------------------------------- metrics

def split_metrics(scores, y, C):
    """Accuracy, macro-F1 and mAP of [n, C] scores."""
    pred = scores.argmax(1)
    acc = (pred == y).double().mean().item()
    f1s = []
    for c in range(C):
        tp = ((pred == c) & (y == c)).sum().item()
        fp = ((pred == c) & (y != c)).sum().item()
        fn = ((pred != c) & (y == c)).sum().item()
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    aps = []
    for c in range(C):
        pos = y == c
        if not pos.any():
            continue
        order = scores[:, c].argsort(descending=True)
        hits = pos[order].double()
        precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1, dtype=torch.float64)
        aps.append((precision * hits).sum().item() / hits.sum().item())
    return {'accuracy': acc, 'macroF1': sum(f1s) / C, 'mAP': sum(aps) / len(aps)}


@torch.no_grad()
def evaluate(model, data, split, C):
    model.eval()
    parts, ys = {}, []
    for xs, y in eval_batches(data, split):
        for k, v in model.outputs(xs).items():
            parts.setdefault(k, []).append(v)
        ys.append(y)
    model.train()
    y = torch.cat(ys)
    return {k: split_metrics(torch.cat(v), y, C) for k, v in parts.items()}


@torch.no_grad()
def coalition_accuracy(model, data):
    """Fused test accuracy with the inputs outside each coalition zeroed (4 coalitions)."""
    model.eval()
    out = {}
    for keep in ([], ['audio'], ['visual'], MODS):
        correct, n = 0, 0
        for xs, y in eval_batches(data, 'test'):
            correct += (model.outputs(zeroed(xs, keep))['fused'].argmax(1) == y).sum().item()
            n += len(y)
        out['+'.join(keep) or 'none'] = correct / n
    model.train()
    return out


def linear_probe(model, data, C, l2=1e-3, max_iter=200, tol=1e-6):
    """Test accuracy of a multinomial logistic regression on each encoder's standardised features."""
    model.eval()
    feats = {}
    with torch.no_grad():
        for split in ('train', 'test'):
            fs, ys = {m: [] for m in MODS}, []
            for xs, y in eval_batches(data, split):
                f = features_of(model, xs)
                for m in MODS:
                    fs[m].append(f[m])
                ys.append(y)
            feats[split] = ({m: torch.cat(v).double() for m, v in fs.items()}, torch.cat(ys))
    model.train()
    acc = {}
    for m in MODS:
        x, y = feats['train'][0][m], feats['train'][1]
        mean, std = x.mean(0), x.std(0, unbiased=False)
        scale = torch.where(std > 0, std, torch.ones_like(std))
        xs = (x - mean) / scale
        W = torch.zeros(x.shape[1], C, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(C, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([W, b], lr=1, max_iter=max_iter, tolerance_grad=tol,
                                tolerance_change=0, history_size=10, line_search_fn='strong_wolfe')

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(xs @ W + b, y) + 0.5 * l2 * (W * W).sum()
            loss.backward()
            return loss

        opt.step(closure)
        xt = (feats['test'][0][m] - mean) / scale
        with torch.no_grad():
            acc[m] = ((xt @ W + b).argmax(1) == feats['test'][1]).double().mean().item()
    return acc


# ------------------------------------------------------------------------------------- training

def sgd(params, o):
    return torch.optim.SGD(params, lr=o['learningRate'], momentum=o['momentum'], weight_decay=o['weightDecay'])


def set_epoch_lr(opt, o, epoch):
    """StepLR(lrStepSize, lrGamma) stepped after each epoch (IGM: before, so epoch + 1); none when null."""
    lr = o['learningRate']
    if o.get('lrStepSize'):
        lr *= o.get('lrGamma', 0.1) ** (epoch // o['lrStepSize'])
    for g in opt.param_groups:
        g['lr'] = lr


def in_window(window, epoch, one_based=False):
    """{start, end} inclusive (end null: to the end); AGM counts epochs from 1 (its reference code)."""
    if not window:
        return True
    e = epoch + 1 if one_based else epoch
    end = window.get('end')
    return window.get('start', 0) <= e and (end is None or e <= end)


def true_class_score(logits, y):
    return F.softmax(logits, 1).gather(1, y[:, None]).sum().item()


class Run:
    """Shared epoch loop: train, evaluate validation and test, select, checkpoint."""

    def __init__(self, method, seed, meta, data, folder):
        self.method, self.seed, self.data, self.folder = method, seed, data, folder
        self.C = len(meta['classNames'])
        self.dims = {m['name']: math.prod(m['shape']) for m in meta['modalities']}
        torch.manual_seed(seed)
        self.gen = torch.Generator().manual_seed(10_000 + seed)
        self.best = None  # (value, epoch, test metrics, state)
        self.epoch = 0
        self.seconds = {'train': 0.0, 'evaluate': 0.0, 'checkpoint': 0.0, 'boundary': 0.0}
        self.last_test = None

    def end_epoch(self, model, opt):
        t0 = time.perf_counter()
        val = evaluate(model, self.data, 'validation', self.C)
        test = evaluate(model, self.data, 'test', self.C)
        t1 = time.perf_counter()
        value = val['fused']['macroF1']
        if self.best is None or value > self.best[0]:
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self.best = (value, self.epoch, test, state)
            torch.save(state, os.path.join(self.folder, 'best.pt'))
        torch.save({'model': model.state_dict(), 'optimizer': opt.state_dict(), 'epoch': self.epoch},
                   os.path.join(self.folder, 'last.pt'))
        self.seconds['evaluate'] += t1 - t0
        self.seconds['checkpoint'] += time.perf_counter() - t1
        self.last_test = test
        self.epoch += 1

    def finish(self, model, probe):
        model.load_state_dict(self.best[3])
        t0 = time.perf_counter()
        coalitions = coalition_accuracy(model, self.data)
        t1 = time.perf_counter()
        probe_acc = linear_probe(model, self.data, self.C) if probe else None
        t2 = time.perf_counter()
        self.seconds['contributions'] = t1 - t0
        self.seconds['probe'] = t2 - t1
        test = self.best[2]
        return {
            'method': self.method, 'seed': self.seed, 'epochs': self.epoch,
            'bestEpoch': self.best[1],
            'test': {k: v['accuracy'] for k, v in test.items()},
            'finalTest': {k: v['accuracy'] for k, v in self.last_test.items()},
            'coalitionAccuracy': coalitions,
            **({'probe': probe_acc} if probe_acc else {}),
            'seconds': {k: round(v, 3) for k, v in self.seconds.items()},
        }


def train_joint_like(run, method, spec):
    """joint, ogm-ge, pmr, agm: one model, `epochs` epochs of joint steps."""
    o, epochs = spec['options'], spec['epochs']
    model = (AgmModel if method == 'agm' else ConcatModel)(run.dims, run.C)
    opt = sgd(model.parameters(), o)
    clip = {'threshold': 1.0, 'maxNorm': 1.0, **(o.get('clip') or {})}
    model.train()
    enc_params = {m: list(model.enc[m].parameters()) for m in MODS}
    protos = None
    running = {'audio': 0.0, 'visual': 0.0}  # AGM's running scores
    scales = {'audio': 1.0, 'visual': 1.0}
    n_batches = len(run.data['train'][1]) // BATCH

    def prototypes(epoch):
        # floor(n_B / 10) batches of a shuffled pass, inference mode; a class absent keeps its row
        g = torch.Generator().manual_seed(run.seed * 7919 + epoch + 1)
        take = max(1, n_batches // 10)
        fs, ys = {m: [] for m in MODS}, []
        model.eval()
        with torch.no_grad():
            for i, (xs, y) in enumerate(train_batches(run.data, g)):
                if i >= take:
                    break
                f = features_of(model, xs)
                for m in MODS:
                    fs[m].append(f[m])
                ys.append(y)
        model.train()
        y = torch.cat(ys)
        out = {}
        for m in MODS:
            f = torch.cat(fs[m])
            old = protos[m] if protos else torch.zeros(run.C, f.shape[1])
            new = old.clone()
            for c in range(run.C):
                sel = y == c
                if sel.any():
                    new[c] = f[sel].mean(0)
            mu = o.get('protoMomentum', 0.0)
            out[m] = (1 - mu) * new + mu * old if epoch >= 1 else new
        return out

    if method == 'pmr':
        protos = prototypes(-1)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        set_epoch_lr(opt, o, epoch)
        modulate = in_window(o.get('window'), epoch, one_based=method == 'agm')
        for b, (xs, y) in enumerate(train_batches(run.data, run.gen)):
            opt.zero_grad(set_to_none=True)
            if method == 'agm':
                total, only_a, only_v, m_logits = model.shapley(xs)
                with torch.no_grad():
                    sc = {m: -torch.log(F.softmax(z, 1).gather(1, y[:, None]).clamp_min(1e-8)).mean().item()
                          for m, z in m_logits.items()}
                r = {'audio': math.exp(sc['visual'] - sc['audio']), 'visual': math.exp(sc['audio'] - sc['visual'])}
                rb = {'audio': math.exp(running['visual'] - running['audio']),
                      'visual': math.exp(running['audio'] - running['visual'])}
                coef = {m: math.exp(o['alpha'] * min(rb[m] - r[m], o.get('cap', 10.0))) for m in MODS}
                t = epoch * n_batches + b + 1
                for m in MODS:
                    running[m] = running[m] * (t - 1) / t + sc[m] / t
                if modulate:
                    scales.update(coef)  # outside the window the last scales remain
                s_a, s_v = scales['audio'], scales['visual']
                E = 0.5 * (s_a + s_v) * total + 0.5 * (s_a - s_v) * only_a + 0.5 * (s_v - s_a) * only_v
                loss = F.cross_entropy(total.detach() + (E - E.detach()), y)
                loss.backward()
                if (model.fusion.weight.grad.abs() > clip['threshold']).any():
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip['maxNorm'])
                opt.step()
                continue
            fused, f = model(xs)
            loss = F.cross_entropy(fused, y)
            if method == 'pmr' and modulate:
                pce, score = {}, {}
                for m in MODS:
                    p = protos[m]
                    sq = (f[m] * f[m]).sum(1, keepdim=True) + (p * p).sum(1)[None] - 2 * f[m] @ p.t()
                    logits = -torch.sqrt(F.relu(sq) + 1e-8)
                    pce[m] = F.cross_entropy(logits, y)
                    score[m] = true_class_score(logits.detach(), y)
                rho = score['audio'] / score['visual']
                if rho > 1:
                    loss = loss + o['alpha'] * pce['visual']
                elif rho < 1:
                    loss = loss + o['alpha'] * pce['audio']
            loss.backward()
            if method == 'ogm-ge':
                with torch.no_grad():
                    sl = model.slice_logits({m: f[m].detach() for m in MODS})
                    s = {m: true_class_score(sl[m], y) for m in MODS}
                    rho_v = s['visual'] / s['audio']
                    if rho_v > 1:
                        k = {'audio': 1.0, 'visual': 1 - math.tanh(o['alpha'] * rho_v)}
                    else:
                        k = {'audio': 1 - math.tanh(o['alpha'] / rho_v), 'visual': 1.0}
                    if modulate:
                        for m in MODS:
                            for p in enc_params[m]:
                                std = p.grad.std() + 1e-8
                                p.grad.mul_(k[m]).add_(torch.randn_like(p.grad) * std)
            opt.step()
        run.seconds['train'] += time.perf_counter() - t0
        if method == 'pmr':
            protos = prototypes(epoch)
        run.end_epoch(model, opt)
    return model


def train_mla(run, spec):
    o, epochs = spec['options'], spec['epochs']
    model = LateModel(run.dims, run.C, 'shared', 'entropy')
    opt = sgd(model.parameters(), o)
    model.train()
    P = torch.eye(64)
    first = True
    n_batches = len(run.data['train'][1]) // BATCH
    for epoch in range(epochs):
        t0 = time.perf_counter()
        set_epoch_lr(opt, o, epoch)
        for b, (xs, y) in enumerate(train_batches(run.data, run.gen)):
            for m in MODS:
                opt.zero_grad(set_to_none=True)
                f = model.enc[m](xs[m])
                loss = F.cross_entropy(model.shared(f), y)
                loss.backward()
                if not first:
                    with torch.no_grad():
                        r = f.detach().mean(0, keepdim=True)  # 1 x d
                        alpha = 0.1 ** (1 + b / n_batches)
                        k = P @ r.t()
                        P = P - (k @ k.t()) / (alpha + (r @ k).item())
                        P = P / P.norm()
                        W = model.shared.weight
                        W.grad = W.grad @ P.t()
                first = False
                opt.step()
        run.seconds['train'] += time.perf_counter() - t0
        run.end_epoch(model, opt)
    return model


def train_unimodal(run, spec):
    o, epochs = spec['options'], spec['epochs']
    model = LateModel(run.dims, run.C, 'linear', 'mean-softmax')
    opt = sgd(model.parameters(), o)
    model.train()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        set_epoch_lr(opt, o, epoch)
        for xs, y in train_batches(run.data, run.gen):
            opt.zero_grad(set_to_none=True)
            loss = sum(F.cross_entropy(model.logits(m, xs[m]), y) for m in MODS)
            loss.backward()
            opt.step()
        run.seconds['train'] += time.perf_counter() - t0
        run.end_epoch(model, opt)
    return model


def flat_projection(model, data, gen, k, tau):
    """T for each Dense layer of head k: Y = sum_b xbar_b^T xbar_b over one training pass,
    T = V exp(-tau (s - s_min) / (s_max - s_min)) V^T (s_min = 0 when Y is rank-deficient)."""
    model.eval()
    Y = None
    batches = 0
    with torch.no_grad():
        for xs, _ in train_batches(data, gen):
            inputs = []
            model.logits(k, xs[k], record=inputs)
            means = [h.mean(0) for h in inputs]
            if Y is None:
                Y = [torch.zeros(len(u), len(u), dtype=torch.float64) for u in means]
            for Yl, u in zip(Y, means):
                Yl += torch.outer(u, u).double()
            batches += 1
    model.train()
    Ts = []
    for Yl in Y:
        s, V = torch.linalg.eigh(Yl)
        s = s.clamp_min(0)
        lo = 0.0 if batches < len(s) else s[0].item()
        hi = s[-1].item()
        t = torch.exp(-tau * (s - lo) / (hi - lo)) if hi > lo else torch.ones_like(s)
        Ts.append(((V * t) @ V.t()).float())
    return Ts


def train_igm(run, spec):
    o = spec['options']
    stages = [(MODS[s % len(MODS)], e) for s, e in enumerate(o['epochList'])]
    model = LateModel(run.dims, run.C, 'igm', 'mean-softmax')
    model.train()
    rho = o.get('rho') or 0.05
    tau = o.get('tau', 0.4)
    T = None
    opt = None
    for s, (m, epochs) in enumerate(stages):
        t0 = time.perf_counter()
        if s > 0:
            model.load_state_dict(run.best[3])
            prev = stages[s - 1][0]
            T = flat_projection(model, run.data, torch.Generator().manual_seed(20_000 + run.seed * 100 + s), prev, tau)
        params = list(model.enc[m].parameters()) + list(model.heads[m].parameters())
        kernels = [lin.weight for lin in model.heads[m]]
        opt = sgd(params, o)  # a new optimizer and schedule at every stage
        run.seconds['boundary'] += time.perf_counter() - t0
        for epoch in range(epochs):
            t0 = time.perf_counter()
            set_epoch_lr(opt, o, epoch + 1)  # IGM steps its StepLR before each epoch
            for xs, y in train_batches(run.data, run.gen):
                # SAM: g at theta, e = rho g / ||g||, G at theta + e, theta restored
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model.logits(m, xs[m]), y).backward()
                with torch.no_grad():
                    norm = torch.norm(torch.stack([p.grad.norm() for p in params]))
                    eps = [rho * p.grad / (norm + 1e-12) for p in params]
                    for p, e in zip(params, eps):
                        p.add_(e)
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model.logits(m, xs[m]), y).backward()
                with torch.no_grad():
                    for p, e in zip(params, eps):
                        p.sub_(e)
                    if T is not None:
                        for W, Tl in zip(kernels, T):
                            W.grad = W.grad @ Tl  # G_W <- G_W T (T symmetric)
                opt.step()
            run.seconds['train'] += time.perf_counter() - t0
            run.end_epoch(model, opt)
    return model


def one_run(task):
    spec, folder_data, probe = task
    method, seed = spec['method'], spec['seed']
    meta, data = DATA if DATA is not None else load_data(folder_data)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f'torch-demo-{method}-{seed}-') as folder:
        run = Run(method, seed, meta, data, folder)
        if method in ('joint', 'ogm-ge', 'pmr', 'agm'):
            model = train_joint_like(run, method, spec)
        elif method == 'mla':
            model = train_mla(run, spec)
        elif method == 'igm':
            model = train_igm(run, spec)
        else:
            model = train_unimodal(run, spec)
        result = run.finish(model, probe)
    result['seconds']['total'] = round(time.perf_counter() - started, 3)
    return result


DATA = None


def init_worker(threads, folder):
    global DATA
    torch.set_num_threads(threads)
    DATA = load_data(folder)


def describe(r):
    t = r['test']
    probe = r.get('probe')
    return (f"{r['method']} seed {r['seed']}: test accuracy {100 * t['fused']:.1f}% "
            f"(audio {100 * t['audio']:.1f}%, visual {100 * t['visual']:.1f}%)"
            + (f", linear probe audio {100 * probe['audio']:.1f}%, visual {100 * probe['visual']:.1f}%" if probe else '')
            + f", {r['seconds']['total']:.1f} s")


def main(args):
    global DATA
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    if args.plan:
        with open(args.plan) as f:
            plan = json.load(f)['runs']
    else:
        plan = quick_plan(list(range(args.seed, args.seed + args.seeds)))
    check_plan(plan)
    tasks = [(spec, args.data, not args.no_probe) for spec in plan]
    results = [None] * len(tasks)
    if args.jobs <= 1:
        DATA = load_data(args.data)
        for i, task in enumerate(tasks):
            results[i] = one_run(task)
            print(describe(results[i]), flush=True)
    else:
        import multiprocessing as mp
        ctx = mp.get_context('spawn')
        with ctx.Pool(args.jobs, initializer=init_worker, initargs=(args.threads, args.data)) as pool:
            pending = {i: pool.apply_async(one_run, (task,)) for i, task in enumerate(tasks)}
            for i, res in pending.items():
                results[i] = res.get()
                print(describe(results[i]), flush=True)
    wall = time.perf_counter() - started
    out = {
        'torch': torch.__version__, 'threads': args.threads, 'jobs': args.jobs,
        'blas': blas_library(), 'plan': args.plan or 'quick (built in)', 'seconds': round(wall, 3), 'runs': results,
    }
    print(f'grid: {len(results)} runs in {wall:.1f} s ({args.jobs} process(es) x {args.threads} thread(s), BLAS {out["blas"]["kind"]})', flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)


if __name__ == '__main__':
    main(ARGS)
