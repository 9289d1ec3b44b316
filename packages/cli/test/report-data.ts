import type { ComparisonSummary, EpochRecord, EvalMetrics, RunRecord } from '../src/report';

function metrics(acc: number, audio: number, visual: number): EvalMetrics {
  return {
    accuracy: acc,
    macroF1: acc - 0.02,
    mAP: acc + 0.03,
    perModality: {
      audio: { accuracy: audio, macroF1: audio - 0.01 },
      visual: { accuracy: visual, macroF1: visual - 0.01 },
    },
    samples: 300,
  };
}

/** A small, hand-made comparison: two methods x two seeds x three epochs. */
export function sampleComparison(): { summary: ComparisonSummary; epochs: EpochRecord[] } {
  const epochs: EpochRecord[] = [];
  const runs: RunRecord[] = [];
  for (const [method, base] of [
    ['joint', 0.6],
    ['igm', 0.7],
  ] as const) {
    for (const seed of [0, 1]) {
      for (let epoch = 0; epoch < 3; epoch++) {
        const acc = base + 0.05 * epoch + 0.01 * seed;
        epochs.push({
          method,
          seed,
          epoch,
          ...(method === 'igm' ? { stage: epoch % 2 ? 'visual' : 'audio' } : {}),
          validation: metrics(acc - 0.01, acc - 0.1, acc - 0.3),
          test: metrics(acc, acc - 0.1, acc - 0.3),
          trainLoss: 1 - acc,
          seconds: 2,
          logs:
            method === 'joint' ? { lr: 1e-3 } : { lr: 1e-2, 'agm/scale_audio': 1 + 0.1 * epoch },
        });
      }
      runs.push({
        method,
        seed,
        dataset: 'av-mnist',
        fusionRule: method === 'igm' ? 'mean of softmax' : 'concat logits',
        unimodalProtocol: method === 'igm' ? 'own head' : 'weight slice',
        modalities: ['audio', 'visual'],
        selection: { split: 'validation', metric: 'macroF1' },
        bestOnValidation: { epoch: 2, test: metrics(base + 0.1 + 0.01 * seed, base, base - 0.2) },
        final: { epoch: 2, test: metrics(base + 0.1 + 0.01 * seed, base, base - 0.2) },
        bestOnTest: { epoch: 2, test: metrics(base + 0.11, base, base - 0.2) },
        contributions: { audio: 0.5, visual: 0.2 },
        imbalanceDegree: 0.3 / 0.7,
        secondsPerEpoch: 2 + seed,
        peakMemoryMB: 300,
        ...(method === 'igm'
          ? { spectra: [{ stage: 1, layer: 'head/audio/0', eigenvalues: [1, 0.99, 0.7, 0.6703] }] }
          : {}),
      });
    }
  }
  return {
    summary: {
      name: 'sample',
      dataset: 'av-mnist',
      datasetLabel: 'AV-MNIST-style',
      backend: 'cpu',
      createdAt: '2026-11-27T00:00:00Z',
      runs,
    },
    epochs,
  };
}

/** Fifteen made-up method names (the registry's plus the ones other issues add). */
export const MANY_METHODS = [
  'joint',
  'ogm-ge',
  'ogm',
  'pmr',
  'agm',
  'mla',
  'mmpareto',
  'reconboost',
  'igm',
  'igm-no-sam',
  'ogr-gb',
  'mses',
  'mslr',
  'domfn',
  'smv',
] as const;

/**
 * A comparison at the scale the report must handle: 15 methods x 2 seeds x 6 epochs on three
 * modalities. Each balancing method logs several quantities, per modality and not, on very
 * different scales (one ratio up to 120, coefficients in [0, 1]), plus one constant quantity;
 * the IGM variants record T spectra (decaying, d = 16 and 64) at three stage boundaries.
 */
export function manyMethodsComparison(): { summary: ComparisonSummary; epochs: EpochRecord[] } {
  const modalities = ['audio', 'visual', 'text'];
  const perModality = (acc: number) => ({
    accuracy: acc,
    macroF1: acc - 0.02,
    perModality: Object.fromEntries(
      modalities.map((m, i) => [m, { accuracy: acc - 0.1 * (i + 1), macroF1: acc - 0.1 * i }]),
    ),
    samples: 300,
  });
  const epochs: EpochRecord[] = [];
  const runs: RunRecord[] = [];
  MANY_METHODS.forEach((method, k) => {
    for (const seed of [0, 1]) {
      for (let epoch = 0; epoch < 6; epoch++) {
        const acc = 0.4 + 0.03 * k + 0.04 * epoch + 0.01 * seed;
        const logs: Record<string, number> = { lr: 0.01, 'loss/audio': 1 - acc };
        if (method !== 'joint') {
          const p = method.replace(/-/g, '');
          modalities.forEach((m, i) => {
            logs[`${p}/coef/${m}`] = 1 - 0.1 * i - 0.02 * epoch - 0.01 * seed;
            logs[`${p}/score/${m}`] = 10 + 5 * epoch + i + seed;
          });
          // One quantity two orders of magnitude above the others (OGM-GE's ratio reached 120).
          logs[`${p}/ratio`] = 20 * (epoch + 1) + seed;
          logs[`${p}/clipped`] = (epoch + seed) % 2;
          logs[`${p}/rho`] = 0.05;
        }
        epochs.push({
          method,
          seed,
          epoch,
          ...(method.startsWith('igm') ? { stage: modalities[epoch % 3]! } : {}),
          test: perModality(acc),
          trainLoss: 1 - acc,
          seconds: 1,
          logs,
        });
      }
      const decaying = (d: number, stage: number) =>
        Array.from({ length: d }, (_, i) => Math.exp(-0.4 * Math.exp(-(i * (stage + 1)) / 3))).sort(
          (a, b) => b - a,
        );
      runs.push({
        method,
        seed,
        dataset: 'synthetic',
        fusionRule: 'concat',
        unimodalProtocol: 'weight slice',
        modalities,
        selection: { split: 'validation', metric: 'accuracy' },
        final: { epoch: 5, test: perModality(0.6 + 0.01 * k) },
        bestOnTest: { epoch: 5, test: perModality(0.6 + 0.01 * k) },
        secondsPerEpoch: 1,
        peakMemoryMB: 100,
        ...(method.startsWith('igm')
          ? {
              spectra: [1, 2, 3].flatMap((stage) => {
                const source = modalities[(stage - 1) % 3]!;
                return [
                  {
                    stage,
                    layer: `head/${source}/dense_0/kernel`,
                    eigenvalues: decaying(64, stage),
                  },
                  {
                    stage,
                    layer: `head/${source}/dense_1/kernel`,
                    eigenvalues: decaying(16, 3 * stage),
                  },
                ];
              }),
            }
          : {}),
      });
    }
  });
  return {
    summary: {
      name: 'many',
      dataset: 'synthetic',
      datasetLabel: 'fifteen methods',
      backend: 'cpu',
      createdAt: '2026-11-27T00:00:00Z',
      runs,
    },
    epochs,
  };
}
