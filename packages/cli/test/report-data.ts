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
