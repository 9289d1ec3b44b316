/**
 * A custom multimodal trainer assembled from the @igm plugins: IGM by hand.
 *
 *   data       @igm/datasets synthetic(): audio shows the true class 90 % of the time, visual 70 %
 *   model      @igm/models MultimodalModel: an MLP encoder + its own MLP head per modality, fused
 *              at test time by the mean of the per-modality softmaxes (no fusion layer)
 *   loop       @igm/trainer runTraining, with @igm/alternating-trainer's stageWise plan: one
 *              modality per stage; at each boundary the best checkpoint is reloaded, the
 *              optimizer reset and T built (beforeStage)
 *   update     chain(sam, flatProjection, sgd) from @igm/sam, @igm/flat-projection, @igm/core
 *              (see igm-by-hand.ts for the rule)
 *
 * For contrast the same model is also trained jointly (jointStep: CE on the fused output, plain
 * sgd, same number of epochs). Per-modality and fused test accuracies are printed.
 *
 *   pnpm start             (or: pnpm start -- --backend cpu)
 *   pnpm tiny              a few seconds; what `pnpm test` runs
 */
import { pathToFileURL } from 'node:url';
import { stageWise } from '@igm/alternating-trainer';
import { sgd } from '@igm/core';
import { synthetic } from '@igm/datasets';
import { MultimodalModel, mlpEncoder } from '@igm/models';
import { jointStep, type RunOptions, type RunSummary, runTraining } from '@igm/trainer';
import { type BackendName, parseArgs, useBackend } from './backend';
import { composeIgmByHand } from './igm-by-hand';

export interface ExampleOptions {
  tiny?: boolean;
  backend?: BackendName;
  log?: (line: string) => void;
  /** Probability that the visual input shows the true class. Default 0.7 (audio: 0.9). */
  visualSignal?: number;
}

export type Accuracies = { fused: number; audio: number; visual: number };

export interface MethodResult {
  method: string;
  /** Test accuracies at the epoch chosen on validation macro-F1 (the run loop's default). */
  best: Accuracies;
  bestEpoch: number;
  /** Test accuracies after the last epoch. */
  final: Accuracies;
  firstLoss: number;
  lastLoss: number;
  /** One line per T installed at a stage boundary (IGM only). */
  projections: string[];
  seconds: number;
}

const CLASSES = 4;

function buildModel(): MultimodalModel {
  return new MultimodalModel({
    encoders: {
      audio: mlpEncoder({ inputDim: 16, units: [64], seed: 1 }),
      visual: mlpEncoder({ inputDim: 16, units: [64], seed: 2 }),
    },
    numClasses: CLASSES,
    // IGM's head shape, scaled down: Dense(64 -> 64) -> ReLU -> Dense(64 -> 32) -> Dense(32 -> C).
    head: { type: 'per-modality', hidden: [{ units: 64, activation: 'relu' }, { units: 32 }] },
    fusion: { type: 'mean-softmax' },
    seed: 3,
  });
}

function accuracies(outputs: Record<string, { accuracy: number }> | undefined): Accuracies {
  const acc = (name: string) => outputs?.[name]?.accuracy ?? Number.NaN;
  return { fused: acc('fused'), audio: acc('audio'), visual: acc('visual') };
}

export async function runExample(
  options: ExampleOptions = {},
): Promise<{ backend: string; results: MethodResult[] }> {
  const log = options.log ?? console.log;
  const backend = await useBackend(options.backend ?? 'wasm');
  const tiny = options.tiny ?? false;
  const trainSize = tiny ? 256 : 2048;
  const visualSignal = options.visualSignal ?? 0.7;
  const dataset = synthetic({
    classes: CLASSES,
    signal: { audio: 0.9, visual: visualSignal },
    noise: 1.5,
    samples: tiny
      ? { train: trainSize, validation: 128, test: 256 }
      : { train: trainSize, validation: 512, test: 1024 },
    seed: 0,
  });
  // Stages audio, visual, audio, visual; the weak visual modality gets more epochs.
  const epochList = tiny ? [2, 3, 1, 2] : [3, 6, 2, 5];
  const epochs = epochList.reduce((a, b) => a + b, 0);
  const common = {
    dataset,
    batchSize: 16,
    seed: 42,
    progress: 'none',
    fusionRule: 'mean-softmax',
  } satisfies Partial<RunOptions>;
  const learningRate = 0.05;
  log(
    `backend ${backend}; synthetic: ${CLASSES} classes, signal audio 0.9 / visual ${visualSignal}, noise 1.5, ${trainSize} training samples; ${epochs} epochs, batch 16, SGD lr ${learningRate}`,
  );

  const results: MethodResult[] = [];
  const record = (method: string, s: RunSummary, projections: string[], t0: number) => {
    const r: MethodResult = {
      method,
      best: accuracies(s.best?.metrics.test?.outputs),
      bestEpoch: s.best?.epoch ?? -1,
      final: accuracies(s.final?.test?.outputs),
      firstLoss: s.history[0]!.trainLoss,
      lastLoss: s.history.at(-1)!.trainLoss,
      projections,
      seconds: (performance.now() - t0) / 1000,
    };
    results.push(r);
    const fmt = (a: Accuracies) =>
      `fused ${a.fused.toFixed(3)}  audio ${a.audio.toFixed(3)}  visual ${a.visual.toFixed(3)}`;
    log(`${method.padEnd(13)} final test: ${fmt(r.final)}`);
    log(
      `${''.padEnd(13)} best-on-val (epoch ${r.bestEpoch}): ${fmt(r.best)}   (${r.seconds.toFixed(1)} s)`,
    );
  };

  // 1. Joint training: CE on the fused output (mean of softmaxes); audio dominates.
  {
    const t0 = performance.now();
    const model = buildModel();
    const summary = await runTraining({
      ...common,
      model,
      step: jointStep(),
      transform: sgd({ learningRate, momentum: 0.9, weightDecay: 1e-4 }),
      epochs,
    });
    record('joint', summary, [], t0);
    model.dispose();
  }

  // 2. IGM by hand: the composition, the stage plan, the run loop.
  {
    const t0 = performance.now();
    const model = buildModel();
    const projections: string[] = [];
    const igm = composeIgmByHand(model, {
      order: ['audio', 'visual'],
      tau: 0.4,
      rho: 0.05,
      learningRate,
      onProjection: (line) => projections.push(line),
    });
    const plan = stageWise({ order: igm.order, epochList, beforeStage: igm.beforeStage });
    const summary = await runTraining({
      ...common,
      model,
      step: igm.step, // unimodalStep(): CE on logits/<stage modality>, that modality's keys only
      transform: igm.transform, // chain(sam, flatProjection, sgd)
      stages: plan.stages,
      onStageStart: plan.onStageStart, // reload best, reset optimizer, beforeStage (build T)
      config: igm.config,
    });
    for (const line of projections) log(`  ${line}`);
    record('igm (by hand)', summary, projections, t0);
    model.dispose();
  }
  return { backend, results };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runExample(parseArgs(process.argv.slice(2)));
}
