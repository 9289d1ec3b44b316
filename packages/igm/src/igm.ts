/**
 * `igm()`: IGM (Interactive multimodal learning via flat Gradient Modification, IJCAI 2025)
 * as one composition (DESIGN.md section 1, ALGORITHMS.md section 1):
 *
 *   stage-wise alternating trainer  +  chain(sam, flatProjection, sgd)
 *
 * - Stages: one modality per stage in `order`, `epochList[s]` epochs each. At each boundary the
 *   best checkpoint (selected on validation by default) is reloaded, the optimizer and its
 *   schedule are re-created, and T is rebuilt for every Dense layer of the head of the modality
 *   just trained (k, the cyclic predecessor): one pass over the training data in inference
 *   mode without mixup accumulates Y_l = sum_b xbar_b^T xbar_b, and
 *   T_l = V exp(-tau (s - s_min)/(s_max - s_min)) V^T.
 * - Step of modality j (`variant`):
 *   'paper' (default): standard SAM (global norm, rho 0.05, weights restored), optional mixup:
 *       g = grad L(theta);  G = grad L(theta + rho g/||g||);  G_K <- T G_K;  SGD
 *   'official': the released code (ALGORITHMS.md 1.7): mixup always (alpha 1.0), per-tensor
 *       eps with rho 1e-10 never undone, head-only flat loss with unmixed labels,
 *       L = 0.7 L_mixup + 0.3 L_flat;  G_K <- T G_K;  theta <- theta + eps;  SGD
 *   `sam: false` ('IGM w/o SAM'): plain CE (official: mixup CE) with the flat projection.
 * - Optimizer: SGD lr 1e-2, momentum 0.9, weight decay 1e-4, StepLR(40, 0.1) stepped before
 *   each epoch of a stage (IGM's order), unless `optimizer` is given.
 */

import {
  type RunStageWiseOptions,
  runStageWise,
  type StageBoundary,
  unimodalStep,
} from '@igm/alternating-trainer';
import {
  chain,
  findState,
  type GradientTransform,
  IgmArgumentError,
  type MultimodalModelLike,
  parseOptions,
  sgd,
  stepLR,
} from '@igm/core';
import {
  type FlatProjectionState,
  flatProjection,
  InputMomentAccumulator,
  installProjection,
} from '@igm/flat-projection';
import { symmetricEigen } from '@igm/linalg';
import { asam, sam } from '@igm/sam';
import type { RunSummary, TrainerStep } from '@igm/trainer';
import { officialStep } from './official-step';
import { type IgmOptions, igmOptionsSchema, type ResolvedIgmOptions } from './options';

export type IgmVariant = ResolvedIgmOptions['variant'];

/** IGM bound to a model: everything `runStageWise` needs. */
export interface IgmComposition {
  readonly variant: IgmVariant;
  readonly order: readonly string[];
  readonly step: TrainerStep;
  readonly transform: GradientTransform<any>;
  readonly beforeStage: (boundary: StageBoundary) => Promise<void>;
  /** The resolved configuration (recorded in the run). */
  readonly config: Record<string, unknown>;
}

export interface IgmMethod {
  readonly options: IgmOptions;
  /** Builds the step, the chain and the stage hook for `model`. */
  compose(model: MultimodalModelLike): IgmComposition;
  /** Trains `model` on `dataset` (all other options as `runTraining`). */
  train(
    options: Omit<
      RunStageWiseOptions,
      'order' | 'epochList' | 'beforeStage' | 'step' | 'transform'
    >,
  ): Promise<RunSummary>;
}

/** Layers up to this input dimension get T's full spectrum recorded at each boundary. */
export const FULL_SPECTRUM_MAX_DIM = 256;

/**
 * Builds T for the head of `boundary.previousModality` from the reloaded model (one pass over
 * the training data, inference mode) and installs it into the chain's flatProjection state.
 * Records per layer (`T/<kernel>/...`): Y's s_min and s_max, T's extreme eigenvalues, the
 * number of batches, and T's full spectrum for input dimensions <= 256 (ordered by Y's
 * ascending eigenvalues, so from 1 down to e^-tau).
 */
export async function rebuildFlatProjection(boundary: StageBoundary, tau?: number): Promise<void> {
  const state = findState<FlatProjectionState>(boundary.transformState, 'flatProjection');
  if (!state) {
    throw new IgmArgumentError(
      'rebuildFlatProjection: the transform has no flatProjection member. Compose it with one, e.g. chain(..., flatProjection({ layers }), ...).',
    );
  }
  const k = boundary.previousModality;
  const layers = boundary.model.headLayers(k);
  if (layers.length === 0) {
    throw new IgmArgumentError(
      `rebuildFlatProjection: model.headLayers("${k}") is empty. IGM needs per-modality MLP heads.`,
    );
  }
  const acc = new InputMomentAccumulator(layers);
  try {
    await boundary.forEachInferenceOutputs(k, (outputs) => acc.addOutputs(layers, outputs));
    const report = installProjection(state, acc, layers, tau !== undefined ? { tau } : {});
    for (const r of report) {
      if (r.dim <= FULL_SPECTRUM_MAX_DIM) {
        // T's eigenvalues t_i = exp(-tau (s_i - s_min)/(s_max - s_min)) from Y's (ascending s).
        const s = symmetricEigen(acc.get(r.layerKey).dataSync() as Float32Array, r.dim).values;
        const lo = Math.max(0, s[0]!);
        const hi = s[s.length - 1]!;
        const t = Array.from(s, (v) =>
          r.method === 'identity' ? 1 : Math.exp((-r.tau * (Math.max(0, v) - lo)) / (hi - lo)),
        );
        boundary.record(`T/${r.layerKey}/eigenvalues`, t);
      }
      boundary.record(`T/${r.layerKey}/sMin`, r.sMin);
      boundary.record(`T/${r.layerKey}/sMax`, r.sMax);
      boundary.record(`T/${r.layerKey}/spectrum`, [r.spectrum.min, r.spectrum.max]);
      boundary.record(`T/${r.layerKey}/batches`, r.batches);
    }
    boundary.record('T/source', boundary.stageIndex);
  } finally {
    acc.dispose();
  }
}

/**
 * IGM in one call (module doc). `igm({ epochList }).train({ model, dataset, batchSize })`, or
 * `compose(model)` to get the pieces.
 */
export function igm(options: IgmOptions): IgmMethod {
  const o = parseOptions('igm', igmOptionsSchema, options);
  const { variant, tau, flatRatio, momentum, weightDecay, lrStepSize, lrGamma } = o;
  const lr = o.learningRate;
  const samMode = o.sam;
  const rho = o.rho ?? (variant === 'official' ? 1e-10 : samMode === 'asam' ? 2.0 : 0.05);
  const mixup = o.mixup ?? (variant === 'official' ? { alpha: 1.0 } : false);

  const compose = (model: MultimodalModelLike): IgmComposition => {
    const order = o.order ?? model.modalities;
    const layers = order.flatMap((m) => model.headLayers(m));
    const projection = flatProjection({
      layers,
      order,
      tau,
      ...(o.unprojected ? { unprojected: o.unprojected } : {}),
    });
    const base =
      o.optimizer ??
      sgd({
        learningRate: stepLR({
          initial: lr,
          stepSize: lrStepSize,
          gamma: lrGamma,
          stepBeforeEpoch: true,
        }),
        momentum,
        weightDecay,
      });
    let step: TrainerStep;
    let transform: GradientTransform<any>;
    if (variant === 'official' && samMode !== false) {
      step = officialStep({ mixup, rhoEncoder: rho, rhoHead: rho, flatRatio });
      transform = chain(projection, base);
    } else if (samMode === false) {
      step = unimodalStep({ mixup });
      transform = chain(projection, base);
    } else {
      step = unimodalStep({ mixup });
      transform = chain(samMode === 'asam' ? asam({ rho }) : sam({ rho }), projection, base);
    }
    return {
      variant,
      order,
      step,
      transform,
      beforeStage: (b) => rebuildFlatProjection(b),
      config: {
        method: samMode === false ? 'igm-without-sam' : 'igm',
        variant,
        order,
        epochList: o.epochList,
        tau,
        sam: samMode,
        rho: samMode === false ? null : rho,
        mixup,
        flatRatio: variant === 'official' && samMode !== false ? flatRatio : null,
        optimizer: o.optimizer
          ? o.optimizer.name
          : {
              name: 'sgd',
              learningRate: lr,
              momentum,
              weightDecay,
              schedule: { stepLR: lrStepSize, gamma: lrGamma, stepBeforeEpoch: true },
            },
      },
    };
  };

  return {
    options,
    compose,
    async train(run) {
      const c = compose(run.model);
      return runStageWise({
        ...run,
        order: c.order,
        epochList: o.epochList,
        step: c.step,
        transform: c.transform,
        beforeStage: c.beforeStage,
        fusionRule: run.fusionRule ?? 'mean-softmax',
        config: { ...(run.config ?? {}), igm: c.config },
      });
    },
  };
}
