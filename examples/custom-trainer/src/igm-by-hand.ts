/**
 * IGM (IJCAI 2025) assembled by hand from the plugins, in the shape of `igm().compose(model)`
 * (the umbrella package's composition, which `@igm/baselines`' registry also consumes):
 * `{ order, step, transform, beforeStage, config }`. Paper semantics (ALGORITHMS.md 1.6):
 *
 *   stage s trains modality j = order[s mod m] only (unimodalStep: CE(head_j(enc_j(x_j)), y))
 *   update = chain(sam, flatProjection, sgd):
 *     sam             e = rho g/|g| (one global norm over j's tensors); G = grad L(theta + e);
 *                     theta restored; the second pass freezes BatchNorm statistics
 *     flatProjection  G_K <- T_{k,l} G_K for every head kernel K of j (TF.js (in, out) layout),
 *                     T of the same-shape layer of the previous modality k; identity in stage 0
 *     sgd             d = G + wd theta; buf = mu buf + d; theta <- theta - lr buf
 *   at each boundary s >= 1 (after the best checkpoint is reloaded and the chain state reset):
 *     one inference pass of modality k over the training set; per head layer l of k,
 *     Y_l = sum_b xbar_b^T xbar_b (batch-mean inputs), T_l = V exp(-tau (s - s_min)/(s_max -
 *     s_min)) V^T, installed into the flatProjection member of the fresh chain state.
 *
 * Without SAM (`sam: false`) the chain is chain(flatProjection, sgd): "IGM w/o SAM".
 */
import type { StageBoundary } from '@igm/alternating-trainer';
import { unimodalStep } from '@igm/alternating-trainer';
import {
  type ChainState,
  chain,
  constant,
  findState,
  type GradientTransform,
  type MultimodalModelLike,
  sgd,
  stepLR,
} from '@igm/core';
import {
  type FlatProjectionState,
  flatProjection,
  InputMomentAccumulator,
  installProjection,
} from '@igm/flat-projection';
import type { MultimodalModel } from '@igm/models';
import { sam } from '@igm/sam';
import type { TrainerStep } from '@igm/trainer';

export interface IgmByHandOptions {
  /** Modalities in training order. Default: the model's modality order. */
  order?: readonly string[];
  /** Temperature of T. Default 0.4 (every dataset of the paper). */
  tau?: number;
  /** SAM radius (paper semantics). Default 0.05. */
  rho?: number;
  /** false: IGM w/o SAM. Default true. */
  sam?: boolean;
  learningRate?: number;
  momentum?: number;
  weightDecay?: number;
  /** StepLR per stage (the schedule restarts with the optimizer each stage). Default constant. */
  lrStepSize?: number | null;
  lrGamma?: number;
  /** Receives one line per installed T (layer, n_B, s_max, spectrum of T). */
  onProjection?: (line: string) => void;
}

export interface IgmComposition {
  readonly order: readonly string[];
  readonly step: TrainerStep;
  readonly transform: GradientTransform<ChainState>;
  readonly beforeStage: (boundary: StageBoundary) => Promise<void>;
  readonly config: Record<string, unknown>;
}

/** `model` must expose its head layers (`MultimodalModel` from @igm/models does). */
export function composeIgmByHand(
  model: MultimodalModelLike,
  options: IgmByHandOptions = {},
): IgmComposition {
  const headed = model as unknown as Pick<MultimodalModel, 'headLayers'>;
  const order = options.order ?? model.modalities;
  const tau = options.tau ?? 0.4;
  const rho = options.rho ?? 0.05;
  const withSam = options.sam ?? true;
  const learningRate = options.learningRate ?? 0.01;
  const lr =
    options.lrStepSize == null
      ? constant(learningRate)
      : stepLR({
          initial: learningRate,
          stepSize: options.lrStepSize,
          gamma: options.lrGamma ?? 0.1,
        });
  // Every modality's head Dense layers: the projection pairs the current modality's kernels with
  // the previous modality's layers of the same shape (an ambiguous or missing match is an error).
  const layers = order.flatMap((m) => headed.headLayers(m));
  const projection = flatProjection({ layers, tau, order: [...order] });
  const base = sgd({
    learningRate: lr,
    momentum: options.momentum ?? 0.9,
    weightDecay: options.weightDecay ?? 1e-4,
  });
  const members = withSam ? [sam({ rho }), projection, base] : [projection, base];

  const beforeStage = async (boundary: StageBoundary): Promise<void> => {
    const previous = boundary.previousModality;
    const headOfPrevious = headed.headLayers(previous);
    const moments = new InputMomentAccumulator(headOfPrevious);
    try {
      // Inference mode, modality k only; each batch's `input/head/<k>/<i>` outputs.
      const batches = await boundary.forEachInferenceOutputs(previous, (outputs) =>
        moments.addOutputs(headOfPrevious, outputs),
      );
      // The chain state was just re-created (optimizer reset); its flatProjection member holds
      // the T matrices as Variables (so they are checkpointed with the optimizer state).
      const state = findState<FlatProjectionState>(boundary.transformState, 'flatProjection');
      if (!state) throw new Error('composeIgmByHand: the chain has no flatProjection member.');
      for (const s of installProjection(state, moments, headOfPrevious)) {
        boundary.record(`T/${s.layerKey}/sMax`, s.sMax);
        options.onProjection?.(
          `stage ${boundary.stageIndex} (${boundary.modality}): T from ${s.layerKey}, n_B ${batches}, s_max ${s.sMax.toFixed(1)}, spectrum [${s.spectrum.min.toFixed(4)}, ${s.spectrum.max}] (${s.method})`,
        );
      }
    } finally {
      moments.dispose();
    }
  };

  return {
    order,
    step: unimodalStep(),
    transform: chain(...members),
    beforeStage,
    config: {
      variant: 'paper',
      order,
      tau,
      sam: withSam,
      ...(withSam ? { rho } : {}),
      learningRate,
      lrStepSize: options.lrStepSize ?? null,
    },
  };
}
