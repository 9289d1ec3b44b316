/**
 * MSES: modality-specific early stopping (Fujimori, Endo, Kawai & Mochizuki, "Modality-Specific
 * Learning Rate Control for Multimodal Classification", ACPR 2019), a project re-implementation.
 * The paper's abstract gives the idea: a multitask model (one classifier per modality plus a
 * multimodal classifier) detects overfitting per modality from the modality classifiers and stops
 * each modality separately. Every concrete rule below is the project's.
 *
 * Model: {@link MultitaskModel} (encoder phi_m and head h_m per modality, h_mm on the concat).
 *
 * Step ({@link msesStep}):
 *   loss = CE(z_mm, y) + sum_{m active} CE(z_m, y)
 *   update only h_mm and {phi_m, h_m : m active}: the parameters of stopped modalities are left
 *   out of the update (no weight decay, no momentum), and their encoders run in inference mode
 *   (BatchNorm moving statistics used and unchanged).
 *
 * After every epoch e ({@link MsesController}, a Callback; inference mode, VALIDATION split):
 *   for each active m: v_m = mean CE of z_m  (or its accuracy with monitor 'accuracy')
 *     improved (v_m < best_m - minDelta; accuracy: v_m > best_m + minDelta):
 *       best_m <- v_m; snapshot_m <- (phi_m, h_m, phi_m's BatchNorm statistics); wait_m <- 0
 *     else wait_m <- wait_m + 1
 *     wait_m >= patience: stop m (stop epoch e); with restoreBest, restore snapshot_m
 *   the fused output is monitored the same way; with globalStop, once every modality has stopped
 *   and the fused output has not improved for `patience` epochs, training halts: no parameter
 *   changes for the rest of the run (the run loop has no early exit, so the remaining epochs only
 *   evaluate; their steps report the loss of an inference pass).
 *
 * Logs per epoch: `mses/active/<m>` (1 while m trains), `mses/stop-epoch/<m>` (after m stopped:
 * the epoch whose end stopped it), `mses/best/<m>` (best monitored value so far, as the epoch
 * starts) and `mses/halted` (1 after the global stop).
 */
import {
  type Callback,
  checkChoice,
  checkKnownKeys,
  checkNumber,
  IgmArgumentError,
  type LossFn,
  type MultimodalDataset,
  type NamedVariable,
} from '@igm/core';
import { lossOnOutput, type TrainerStep } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import type { MultitaskModel } from './multitask-model';
import {
  accuracyOf,
  meanCe,
  measureOutputs,
  modalityParamKeys,
  requireValidationSplit,
} from './scratch';

export type MsesMonitor = 'loss' | 'accuracy';

export interface MsesControllerOptions {
  readonly model: MultitaskModel;
  readonly dataset: MultimodalDataset;
  /** Batch size of the validation passes. */
  readonly batchSize: number;
  /** Epochs without improvement before a modality stops. Default 5. */
  readonly patience?: number;
  /** Smallest change that counts as an improvement. Default 0. */
  readonly minDelta?: number;
  /** Validation CE ('loss', default) or accuracy of z_m. */
  readonly monitor?: MsesMonitor;
  /** Restore the best weights of a modality when it stops. Default true. */
  readonly restoreBest?: boolean;
  /** Halt training once every modality stopped and the fused output stalled. Default true. */
  readonly globalStop?: boolean;
}

interface Track {
  best: number | null;
  wait: number;
  stopEpoch: number | null;
}

interface MsesState {
  tracks: Record<string, Track>;
  fused: Track;
  haltEpoch: number | null;
}

/** The per-modality early-stopping rule of MSES (module doc). */
export class MsesController implements Callback {
  readonly name = 'mses';
  readonly patience: number;
  readonly minDelta: number;
  readonly monitor: MsesMonitor;
  readonly restoreBest: boolean;
  readonly globalStop: boolean;
  private tracks: Record<string, Track>;
  private fused: Track = { best: null, wait: 0, stopEpoch: null };
  private haltEpoch: number | null = null;
  /** Best weights of each modality: (model variable, its copy). */
  private readonly snapshots = new Map<
    string,
    Array<{ key: string; live: tf.Variable; copy: tf.Variable }>
  >();

  constructor(private readonly options: MsesControllerOptions) {
    const where = 'MsesController';
    checkKnownKeys(where, options, [
      'model',
      'dataset',
      'batchSize',
      'patience',
      'minDelta',
      'monitor',
      'restoreBest',
      'globalStop',
    ]);
    checkNumber(where, 'batchSize', options.batchSize, { min: 1, integer: true });
    requireValidationSplit(
      where,
      options.dataset,
      'each modality is stopped on its validation loss',
    );
    this.patience = checkNumber(where, 'patience', options.patience ?? 5, {
      min: 1,
      integer: true,
    });
    this.minDelta = checkNumber(where, 'minDelta', options.minDelta ?? 0, { min: 0 });
    this.monitor = checkChoice(where, 'monitor', options.monitor ?? 'loss', ['loss', 'accuracy']);
    this.restoreBest = checkBoolean(where, 'restoreBest', options.restoreBest ?? true);
    this.globalStop = checkBoolean(where, 'globalStop', options.globalStop ?? true);
    const model = options.model;
    if (typeof model?.setInferenceModalities !== 'function') {
      throw new IgmArgumentError(
        `${where}: the model must be a MultitaskModel (per-modality heads + a fused head with per-modality inference mode).`,
      );
    }
    this.tracks = Object.fromEntries(
      model.modalities.map((m) => [m, { best: null, wait: 0, stopEpoch: null }]),
    );
    const params = new Map(model.params().map((p) => [p.key, p.variable]));
    const buffers = model.nonTrainable();
    for (const m of model.modalities) {
      const keys = modalityParamKeys(where, model, m);
      const live = [
        ...keys.map((key) => ({ key, variable: params.get(key)! })),
        ...buffers.filter((b) => b.key.startsWith(`encoder/${m}/`)),
      ];
      this.snapshots.set(
        m,
        live.map(({ key, variable }) => ({
          key,
          live: variable,
          copy: tf.tidy(() =>
            tf.variable(tf.clone(variable), false, `mses/best/${key}#${uniqueSuffix()}`),
          ),
        })),
      );
    }
  }

  /** Modalities still training. */
  get active(): string[] {
    return this.options.model.modalities.filter((m) => this.tracks[m]!.stopEpoch === null);
  }

  /** Modalities stopped so far, with their stop epochs. */
  get stopEpochs(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [m, t] of Object.entries(this.tracks))
      if (t.stopEpoch !== null) out[m] = t.stopEpoch;
    return out;
  }

  /** True after the global stop. */
  get halted(): boolean {
    return this.haltEpoch !== null;
  }

  private improved(value: number, best: number | null): boolean {
    if (!Number.isFinite(value)) return false;
    if (best === null) return true;
    return this.monitor === 'loss' ? value < best - this.minDelta : value > best + this.minDelta;
  }

  async onEpochEnd(epoch: number): Promise<void> {
    if (this.halted) return;
    const { model, dataset, batchSize } = this.options;
    const active = this.active;
    const outs = [...active.map((m) => `logits/${m}`), 'logits/fused'];
    const measured = await measureOutputs(model, dataset, 'validation', batchSize, outs);
    const value = (o: string) =>
      this.monitor === 'loss' ? meanCe(measured[o]!) : accuracyOf(measured[o]!);
    for (const m of active) {
      const t = this.tracks[m]!;
      const v = value(`logits/${m}`);
      if (this.improved(v, t.best)) {
        t.best = v;
        t.wait = 0;
        for (const s of this.snapshots.get(m)!) s.copy.assign(s.live);
      } else {
        t.wait++;
      }
      if (t.wait >= this.patience) {
        t.stopEpoch = epoch;
        if (this.restoreBest && t.best !== null) {
          for (const s of this.snapshots.get(m)!) s.live.assign(s.copy);
        }
      }
    }
    const f = this.fused;
    const vf = value('logits/fused');
    if (this.improved(vf, f.best)) {
      f.best = vf;
      f.wait = 0;
    } else {
      f.wait++;
    }
    if (this.globalStop && this.active.length === 0 && f.wait >= this.patience) {
      this.haltEpoch = epoch;
    }
    this.applyInferenceModes();
  }

  private applyInferenceModes(): void {
    const stopped = this.options.model.modalities.filter((m) => this.tracks[m]!.stopEpoch !== null);
    this.options.model.setInferenceModalities(stopped);
  }

  /** Values to log in every step of the current epoch. */
  logs(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [m, t] of Object.entries(this.tracks)) {
      out[`mses/active/${m}`] = t.stopEpoch === null ? 1 : 0;
      if (t.stopEpoch !== null) out[`mses/stop-epoch/${m}`] = t.stopEpoch;
      if (t.best !== null) out[`mses/best/${m}`] = t.best;
    }
    if (this.fused.best !== null) out['mses/best/fused'] = this.fused.best;
    out['mses/halted'] = this.halted ? 1 : 0;
    return out;
  }

  getState(): MsesState {
    return {
      tracks: structuredClone(this.tracks),
      fused: { ...this.fused },
      haltEpoch: this.haltEpoch,
    };
  }

  setState(state: unknown): void {
    const s = state as MsesState;
    this.tracks = structuredClone(s.tracks);
    this.fused = { ...s.fused };
    this.haltEpoch = s.haltEpoch;
    this.applyInferenceModes();
  }

  stateVariables(): NamedVariable[] {
    return [...this.snapshots.values()].flat().map((s) => ({
      name: `best/${s.key}`,
      variable: s.copy,
    }));
  }

  dispose(): void {
    for (const list of this.snapshots.values()) for (const s of list) s.copy.dispose();
    this.snapshots.clear();
  }
}

let suffix = 0;
function uniqueSuffix(): string {
  return `${suffix++}`;
}

function checkBoolean(where: string, key: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new IgmArgumentError(
      `${where}: received ${key}=${JSON.stringify(value)}. Expected true or false.`,
    );
  }
  return value;
}

/** The MSES step (module doc): active modalities' CE plus the fused CE, stopped ones frozen. */
export function msesStep(controller: MsesController): TrainerStep {
  return {
    name: 'mses',
    describe: () => ({
      step: 'mses (fused CE + active unimodal CE; stopped modalities frozen)',
      patience: controller.patience,
      monitor: controller.monitor,
    }),
    run(tools) {
      const { inputs, labels } = tools.batch;
      const active = controller.active;
      for (const [name, v] of Object.entries(controller.logs())) tools.log(name, v);
      const lossOf = (outputs: Record<string, tf.Tensor>) =>
        tf.addN([
          lossOnOutput(outputs, 'logits/fused', labels, 'msesStep'),
          ...active.map((m) => lossOnOutput(outputs, `logits/${m}`, labels, 'msesStep')),
        ]) as tf.Scalar;
      if (controller.halted) {
        return lossOf(tools.model.forward(inputs, { training: false }));
      }
      const stopped = new Set(tools.model.modalities.filter((m) => !active.includes(m)));
      const frozen = new Set([...stopped].flatMap((m) => tools.modalityKeys(m)));
      const keys = [...tools.params.keys()].filter((k) => !frozen.has(k));
      const lossFn: LossFn = (pass) => {
        const outputs = tools.model.forward(inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
        });
        return { loss: lossOf(outputs), outputs };
      };
      return tools.minimize(lossFn, { keys });
    },
  };
}
