/**
 * Comparing balanced-multimodal methods from code: the @igm/baselines registry (`methods`,
 * `preset`, `createMethod`) + @igm/trainer's `runTraining`, on synthetic imbalanced data.
 *
 *   for each method:
 *     options = preset('synthetic', method, overrides)        reference-style hyper-parameters
 *     run     = createMethod(method, options, env)            model + step + transform (+ stages)
 *     summary = await runTraining({ ...run.trainOptions(), dataset, batchSize, seed })
 *     run.dispose()
 *
 * IGM enters the registry through `registerIgmMethods(igm)`, with `igm` from the umbrella
 * `@igm/igm` (examples/custom-trainer shows the same composition assembled by hand).
 *
 *   pnpm start             every registered method, the preset budget (12 epochs)
 *   pnpm tiny              joint, ogm-ge, igm on a small budget; what `pnpm test` runs
 */
import { pathToFileURL } from 'node:url';
import { createMethod, type IgmFactory, methods, preset, registerIgmMethods } from '@igm/baselines';
import { synthetic } from '@igm/datasets';
import { igm } from '@igm/igm';
import { mlpEncoder } from '@igm/models';
import { runTraining } from '@igm/trainer';
import { type BackendName, parseArgs, useBackend } from './backend';

export interface ExampleOptions {
  tiny?: boolean;
  backend?: BackendName;
  /** Methods to run (registry names). Default: all (tiny: joint, ogm-ge, igm). */
  methods?: readonly string[];
  log?: (line: string) => void;
}

export interface Row {
  method: string;
  /** Test accuracy of the fused prediction at the epoch chosen on validation macro-F1. */
  fused: number;
  /** Test macro-F1 of the fused prediction at that epoch. */
  macroF1: number;
  /** Test accuracy of each modality at that epoch (the method's unimodal protocol). */
  audio: number;
  visual: number;
  /** Fused test accuracy after the last epoch. */
  finalFused: number;
  /** The epoch chosen on validation (0-based). */
  bestEpoch: number;
  epochs: number;
  secondsPerEpoch: number;
  unimodalProtocol: string;
}

const DEFAULT_TINY_METHODS = ['joint', 'ogm-ge', 'igm'];

export async function runExample(
  options: ExampleOptions = {},
): Promise<{ backend: string; rows: Row[] }> {
  const log = options.log ?? console.log;
  const backend = await useBackend(options.backend ?? 'wasm');
  const tiny = options.tiny ?? false;
  registerIgmMethods(igm as IgmFactory); // adds 'igm' and 'igm-no-sam' to `methods`
  const names = options.methods ?? (tiny ? DEFAULT_TINY_METHODS : Object.keys(methods));

  // The comparison bench's imbalanced synthetic set: audio shows the class 80 % of the time,
  // visual 60 %, noise 1.5; 4 classes.
  const dataset = synthetic({
    classes: 4,
    samples: tiny
      ? { train: 256, validation: 128, test: 256 }
      : { train: 512, validation: 128, test: 512 },
    signal: { audio: 0.8, visual: 0.6 },
    noise: 1.5,
    seed: 0,
    name: 'synthetic-imbalanced',
  });
  const batchSize = 32;
  const seed = 0;
  // Tiny mode: a small budget (6 epochs at lr 0.05 instead of 12 at 0.01). The full run uses
  // the preset as is, except IGM's head size.
  const overrides = (method: string): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    if (method.startsWith('igm')) {
      // The registry's IGM model uses IGM's head Dense(d->256)->ReLU->Dense(256->64) by default.
      o['headHidden'] = [{ units: 64, activation: 'relu' }, { units: 32 }];
      if (tiny) Object.assign(o, { epochList: [2, 2, 1, 1], learningRate: 0.05 });
    } else if (method === 'reconboost') {
      if (tiny)
        Object.assign(o, { stages: 2, epochsPerStage: 1, correctEpochs: 1, learningRate: 0.05 });
    } else if (tiny) {
      o['epochs'] = 6;
      o['learningRate'] = 0.05;
      if (method === 'ogm-ge' || method === 'ogm' || method === 'pmr') {
        o['window'] = { start: 0, end: 4 };
      }
    }
    return o;
  };
  log(
    `backend ${backend}; ${dataset.name}: audio 0.8 / visual 0.6, ${tiny ? 256 : 512} training samples, batch ${batchSize}, seed ${seed}`,
  );

  const rows: Row[] = [];
  for (const name of names) {
    const opts = preset('synthetic', name, overrides(name));
    const run = createMethod(name, opts, {
      dataset,
      numClasses: dataset.classNames.length,
      batchSize,
      seed,
      // Fresh encoders for every method, the same initial weights each time.
      encoders: () => ({
        audio: mlpEncoder({ inputDim: 16, units: [32], seed: 1, name: 'enc_audio' }),
        visual: mlpEncoder({ inputDim: 16, units: [32], seed: 2, name: 'enc_visual' }),
      }),
    });
    const t0 = performance.now();
    try {
      const summary = await runTraining({
        ...run.trainOptions(),
        dataset,
        batchSize,
        seed,
        progress: 'none',
      });
      const best = summary.best?.metrics.test?.outputs ?? {};
      const epochs = summary.history.length;
      const row: Row = {
        method: name,
        fused: best['fused']?.accuracy ?? Number.NaN,
        macroF1: best['fused']?.macroF1 ?? Number.NaN,
        audio: best['audio']?.accuracy ?? Number.NaN,
        visual: best['visual']?.accuracy ?? Number.NaN,
        finalFused: summary.final?.test?.outputs['fused']?.accuracy ?? Number.NaN,
        bestEpoch: summary.best?.epoch ?? -1,
        epochs,
        secondsPerEpoch: (performance.now() - t0) / 1000 / epochs,
        unimodalProtocol: run.unimodalProtocol,
      };
      rows.push(row);
      log(
        `  ${name}: fused ${row.fused.toFixed(3)} (${epochs} epochs, ${row.secondsPerEpoch.toFixed(2)} s/epoch)`,
      );
    } finally {
      run.dispose();
    }
  }
  log('');
  log(formatTable(rows));
  log('');
  log('per-modality accuracy protocol:');
  for (const r of rows) log(`  ${r.method}: ${r.unimodalProtocol}`);
  return { backend, rows };
}

/** A markdown table: test metrics at the best-on-validation epoch, final fused accuracy. */
export function formatTable(rows: readonly Row[]): string {
  const head = [
    'method',
    'fused acc',
    'fused F1',
    'audio acc',
    'visual acc',
    'final fused',
    'best epoch',
    'epochs',
    's/epoch',
  ];
  const body = rows.map((r) => [
    r.method,
    r.fused.toFixed(3),
    r.macroF1.toFixed(3),
    r.audio.toFixed(3),
    r.visual.toFixed(3),
    r.finalFused.toFixed(3),
    String(r.bestEpoch),
    String(r.epochs),
    r.secondsPerEpoch.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => '-'.repeat(i === 0 ? w + 2 : w + 1) + (i === 0 ? '' : ':')).join('|')}|`;
  return [line(head), rule, ...body.map(line)].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runExample(parseArgs(process.argv.slice(2)));
}
