/**
 * MSLR: modality-specific learning rates for additive late fusion (Yao & Mihalcea, Findings of
 * ACL 2022), a project re-implementation from the paper's abstract and one third-party trainer.
 *
 * Model: z = sum_m z_m, z_m = h_m(phi_m(x_m)) with h_m = Dense(d_m -> C) (own bias, no shared
 * bias); loss CE(z, y) only; prediction argmax z; unimodal accuracy argmax z_m.
 *
 * Stage 1, unimodal fine-tuning ({@link MslrController}, run before the first epoch of the run):
 *   for each trial t (grid position): every modality m with a grid value g_m[t] restarts from
 *   its initial weights and trains phi_m + h_m alone with CE(z_m) for `unimodalEpochs` epochs at
 *   lr g_m[t] (times the run's schedule); the modalities share no parameter, so they train side
 *   by side on the same batches, each with its own learning rate.
 *   After each epoch: validation accuracy of argmax z_m; the best (modality, trial, epoch) so far
 *   keeps a copy of phi_m, h_m and phi_m's BatchNorm statistics (ties keep the earlier one).
 *   Then every modality gets its best weights and lambda_m = the grid value that produced them.
 * Stage 2, late fusion (the run's epochs): one parameter group per modality (phi_m and h_m) with
 *   its own learning rate on the optimizer (a `partition` of per-group optimizers, never a
 *   gradient scale):
 *     lr_m(e) = lambda_m * r_m * schedule(e)
 *     'keep':    r_m = 1
 *     'dynamic': after each epoch e, a_m(e) = validation accuracy of argmax z_m; buffer_m = the
 *                last H values (including a_m(e)); if e > 0 and e mod H == 0:
 *                r_m <- r_m * a_m(e) / mean(buffer_m)   (skipped when the mean is 0)
 * The paper names a third strategy; its rule could not be verified, so it is not offered.
 *
 * Logs per epoch: `mslr/<m>/lr` (every step's rate), `mslr/stage1/<m>/val-accuracy` (the best
 * stage-1 validation accuracy), `mslr/stage1/epochs` (stage 1's passes over the training split:
 * trials x unimodalEpochs; modality m trains in (length of its grid) x unimodalEpochs of them)
 * and `mslr/stage1/seconds` (its wall time, which is also inside epoch 0's time).
 */
import {
  type AnyTransform,
  type Callback,
  checkChoice,
  checkKnownKeys,
  checkNumber,
  createRng,
  IgmArgumentError,
  type MultimodalDataset,
  type MultimodalModelLike,
  type Param,
  partition,
  toParamMap,
} from '@igm/core';
import { epochSeed, type TrainerStep, TransformDriver } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { checkBudget, type MethodBudget, type OptionsReader } from './budget';
import {
  accuracyOf,
  measureOutputs,
  modalityParamKeys,
  type OptimizerSettings,
  optimizerWith,
  outputStep,
  requireValidationSplit,
  stepFactor,
  trainEpoch,
} from './scratch';

export type MslrStrategy = 'keep' | 'dynamic';

/** The modality a parameter of an MSLR model belongs to (group encoder/<m> or head/<m>). */
function modalityOfParam(p: Param, modalities: readonly string[]): string | undefined {
  const m = p.group.startsWith('encoder/')
    ? p.group.slice(8)
    : p.group.startsWith('head/')
      ? p.group.slice(5)
      : undefined;
  return m !== undefined && modalities.includes(m) ? m : undefined;
}

/**
 * A `partition` with one optimizer per modality group, each with its own learning rate
 * `rate(m, { step, epoch })`. Logs `mslr/<m>/lr`. A parameter outside the modality groups is an
 * error naming it and the groups.
 */
export function perModalityOptimizer(
  modalities: readonly string[],
  settings: OptimizerSettings,
  rate: (modality: string, count: { step: number; epoch: number }) => number,
): AnyTransform {
  const members: Record<string, AnyTransform> = {};
  for (const m of modalities) {
    members[`mslr/${m}`] = optimizerWith(settings, (count) => rate(m, count));
  }
  return partition(members, (p) => {
    const m = modalityOfParam(p, modalities);
    if (m === undefined) {
      throw new IgmArgumentError(
        `mslr: parameter "${p.key}" (group "${p.group}") belongs to no modality group; MSLR gives every parameter to one modality (groups encoder/<m> and head/<m> for ${modalities.join(', ')}).`,
      );
    }
    return `mslr/${m}`;
  });
}

export interface MslrControllerOptions {
  readonly model: MultimodalModelLike;
  readonly dataset: MultimodalDataset;
  readonly batchSize: number;
  readonly settings: OptimizerSettings;
  /** Stage-1 grid per modality (one value each: no search). */
  readonly grid: Readonly<Record<string, readonly number[]>>;
  /** Stage-1 epochs per trial; 0 skips stage 1 (then every grid has one value). */
  readonly unimodalEpochs: number;
  readonly strategy: MslrStrategy;
  /** Dynamic: history length H. Default 5. */
  readonly history?: number;
  /** Seed of stage 1's shuffles. Default 0. */
  readonly seed?: number;
}

/** One stage-1 result per modality. */
export interface MslrStage1Choice {
  readonly learningRate: number;
  readonly valAccuracy: number;
  /** Trial index (grid position) and epoch within it of the kept weights. */
  readonly trial: number;
  readonly epoch: number;
}

interface MslrState {
  lambda: Record<string, number>;
  ratio: Record<string, number>;
  buffers: Record<string, number[]>;
  stage1: {
    done: boolean;
    /** Passes over the training split (trials x unimodalEpochs). */
    epochs: number;
    seconds: number;
    chosen: Record<string, MslrStage1Choice>;
    /** Best validation accuracy per modality and trial. */
    trials: Record<string, number[]>;
  };
}

/** Stage 1 and the per-modality learning rates of stage 2 (module doc). */
export class MslrController implements Callback {
  readonly name = 'mslr';
  readonly strategy: MslrStrategy;
  readonly history: number;
  private state: MslrState;

  constructor(private readonly options: MslrControllerOptions) {
    const where = 'MslrController';
    checkKnownKeys(where, options, [
      'model',
      'dataset',
      'batchSize',
      'settings',
      'grid',
      'unimodalEpochs',
      'strategy',
      'history',
      'seed',
    ]);
    checkNumber(where, 'batchSize', options.batchSize, { min: 1, integer: true });
    checkNumber(where, 'unimodalEpochs', options.unimodalEpochs, { min: 0, integer: true });
    requireValidationSplit(
      where,
      options.dataset,
      'stage 1 and the dynamic strategy read validation accuracies',
    );
    this.strategy = checkChoice(where, 'strategy', options.strategy, ['keep', 'dynamic']);
    this.history = checkNumber(where, 'history', options.history ?? 5, { min: 1, integer: true });
    const mods = options.model.modalities;
    for (const m of mods) {
      const g = options.grid[m];
      if (!g || g.length === 0) {
        throw new IgmArgumentError(
          `${where}: no stage-1 learning rate for modality "${m}". Give grid values for ${mods.join(', ')}.`,
        );
      }
      if (options.unimodalEpochs === 0 && g.length !== 1) {
        throw new IgmArgumentError(
          `${where}: unimodalEpochs=0 skips the learning-rate search, so modality "${m}" needs exactly one learning rate; received ${JSON.stringify(g)}.`,
        );
      }
      modalityParamKeys(where, options.model, m);
    }
    const first = Object.fromEntries(mods.map((m) => [m, options.grid[m]![0]!]));
    this.state = {
      lambda: first,
      ratio: Object.fromEntries(mods.map((m) => [m, 1])),
      buffers: Object.fromEntries(mods.map((m) => [m, []])),
      stage1: {
        done: options.unimodalEpochs === 0,
        epochs: 0,
        seconds: 0,
        chosen: {},
        trials: Object.fromEntries(mods.map((m) => [m, []])),
      },
    };
  }

  /** lambda_m chosen by stage 1 (the single grid value without a search). */
  get lambda(): Readonly<Record<string, number>> {
    return this.state.lambda;
  }

  get stage1(): MslrState['stage1'] {
    return this.state.stage1;
  }

  /** The stage-2 learning rate of modality m at `epoch`. */
  learningRate(m: string, epoch: number): number {
    return this.state.lambda[m]! * this.state.ratio[m]! * stepFactor(this.options.settings, epoch);
  }

  async onEpochBegin(): Promise<void> {
    if (!this.state.stage1.done) await this.runStage1();
  }

  /** Stage 1 (module doc): trials over the grid, best weights per modality on validation. */
  async runStage1(): Promise<void> {
    const started = performance.now();
    const { model, dataset, batchSize, settings, grid, unimodalEpochs } = this.options;
    const mods = model.modalities;
    const params = toParamMap(model.params());
    const buffers = model.nonTrainable();
    const varsOf = (m: string) => [
      ...modalityParamKeys('mslr', model, m).map((k) => params.get(k)!.variable),
      ...buffers.filter((b) => b.key.startsWith(`encoder/${m}/`)).map((b) => b.variable),
    ];
    const initial = new Map(mods.map((m) => [m, varsOf(m).map((v) => tf.keep(tf.clone(v)))]));
    const best = new Map<string, tf.Tensor[]>();
    const chosen: Record<string, MslrStage1Choice> = {};
    const trialsTable: Record<string, number[]> = Object.fromEntries(mods.map((m) => [m, []]));
    const seed = this.options.seed ?? 0;
    let epochs = 0;
    try {
      const trials = Math.max(...mods.map((m) => grid[m]!.length));
      for (let t = 0; t < trials; t++) {
        const trialMods = mods.filter((m) => t < grid[m]!.length);
        for (const m of trialMods) {
          varsOf(m).forEach((v, i) => {
            v.assign(initial.get(m)![i]!);
          });
        }
        const keys = trialMods.flatMap((m) => modalityParamKeys('mslr', model, m));
        const sub = new Map(keys.map((k) => [k, params.get(k)!]));
        const transform = perModalityOptimizer(
          trialMods,
          settings,
          (m, { epoch }) => grid[m]![t]! * stepFactor(settings, epoch),
        );
        const driver = new TransformDriver(
          transform,
          sub,
          createRng(seed).fork(`mslr/stage1/${t}`),
          () => {},
        );
        const step: TrainerStep = outputStep(
          'mslr stage 1',
          trialMods.map((m) => `logits/${m}`),
          keys,
          { modalities: trialMods },
        );
        try {
          for (let e = 0; e < unimodalEpochs; e++) {
            await trainEpoch({
              model,
              dataset,
              driver,
              step,
              batchSize,
              seed: epochSeed(seed, t * 1009 + e, 211),
              epoch: e,
            });
            epochs++;
            const measured = await measureOutputs(
              model,
              dataset,
              'validation',
              batchSize,
              trialMods.map((m) => `logits/${m}`),
              { modalities: trialMods },
            );
            for (const m of trialMods) {
              const acc = accuracyOf(measured[`logits/${m}`]!);
              const row = trialsTable[m]!;
              row[t] = Math.max(row[t] ?? Number.NEGATIVE_INFINITY, acc);
              const prev = chosen[m];
              if (prev === undefined || acc > prev.valAccuracy) {
                chosen[m] = { learningRate: grid[m]![t]!, valAccuracy: acc, trial: t, epoch: e };
                for (const x of best.get(m) ?? []) x.dispose();
                best.set(
                  m,
                  varsOf(m).map((v) => tf.keep(tf.clone(v))),
                );
              }
            }
          }
        } finally {
          driver.dispose();
        }
      }
      for (const m of mods) {
        varsOf(m).forEach((v, i) => {
          v.assign(best.get(m)![i]!);
        });
      }
    } finally {
      for (const list of [...initial.values(), ...best.values()]) for (const x of list) x.dispose();
    }
    this.state.lambda = Object.fromEntries(mods.map((m) => [m, chosen[m]!.learningRate]));
    this.state.stage1 = {
      done: true,
      epochs,
      seconds: (performance.now() - started) / 1000,
      chosen,
      trials: trialsTable,
    };
  }

  async onEpochEnd(epoch: number): Promise<void> {
    if (this.strategy !== 'dynamic') return;
    const { model, dataset, batchSize } = this.options;
    const mods = model.modalities;
    const measured = await measureOutputs(
      model,
      dataset,
      'validation',
      batchSize,
      mods.map((m) => `logits/${m}`),
    );
    for (const m of mods) {
      const acc = accuracyOf(measured[`logits/${m}`]!);
      const buf = this.state.buffers[m]!;
      buf.push(acc);
      if (buf.length > this.history) buf.shift();
      if (epoch > 0 && epoch % this.history === 0) {
        const mean = buf.reduce((a, b) => a + b, 0) / buf.length;
        if (mean > 0) this.state.ratio[m] = this.state.ratio[m]! * (acc / mean);
      }
    }
  }

  /** Values logged in every stage-2 step. */
  logs(): Record<string, number> {
    const s1 = this.state.stage1;
    const out: Record<string, number> = {};
    if (this.options.unimodalEpochs > 0 && s1.done) {
      for (const [m, c] of Object.entries(s1.chosen)) {
        out[`mslr/stage1/${m}/val-accuracy`] = c.valAccuracy;
      }
      out['mslr/stage1/epochs'] = s1.epochs;
      out['mslr/stage1/seconds'] = s1.seconds;
    }
    return out;
  }

  getState(): MslrState {
    return structuredClone(this.state);
  }

  setState(state: unknown): void {
    this.state = structuredClone(state as MslrState);
  }
}

/** The stage-2 step: CE on the summed logits, plus the stage-1 logs. */
export function mslrStep(controller: MslrController, inner: TrainerStep): TrainerStep {
  return {
    ...inner,
    name: 'mslr',
    describe: () => ({
      step: 'mslr (CE on the sum of per-modality logits)',
      strategy: controller.strategy,
      history: controller.history,
    }),
    run(tools) {
      for (const [name, v] of Object.entries(controller.logs())) tools.log(name, v);
      return inner.run(tools);
    },
  };
}

/**
 * MSLR's epoch budget ('stage-wise': a unimodal stage, then the fusion stage, both outside the
 * trainer's stage list): per modality, the epochs its kept weights were trained,
 * `unimodalEpochs + epochs` (the other grid values' trials are extra compute, discarded). The
 * run's own epochs are stage 2's. Scaling to N keeps the ratio of the two stages:
 * epochs' = max(1, round(N * epochs / (unimodalEpochs + epochs))), unimodalEpochs' = the rest
 * (at least 1 when the search is on; 0 stays 0).
 */
export function mslrBudget(
  where: string,
  read: OptionsReader<{ readonly epochs: number; readonly unimodalEpochs?: number | undefined }>,
): MethodBudget {
  const stages = (o: Record<string, unknown>) => {
    const { epochs, unimodalEpochs } = read(o);
    return { epochs, unimodal: unimodalEpochs ?? epochs };
  };
  return {
    kind: 'stage-wise',
    plan(o, modalities) {
      const { epochs, unimodal } = stages(o);
      return {
        epochs,
        perModality: Object.fromEntries(modalities.map((m) => [m, unimodal + epochs])),
      };
    },
    scale(o, n) {
      const target = checkBudget(where, n);
      const { epochs, unimodal } = stages(o);
      if (unimodal === 0) return { ...o, epochs: target, unimodalEpochs: 0 };
      const fusion = Math.max(1, Math.round((target * epochs) / (unimodal + epochs)));
      return { ...o, epochs: fusion, unimodalEpochs: Math.max(1, target - fusion) };
    },
  };
}
