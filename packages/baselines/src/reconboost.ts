/**
 * ReconBoost (Hua et al., ICML 2024; ALGORITHMS.md 8): stage-wise alternating boosting on a
 * {@link ReconBoostModel} (encoders, one shared head, ensemble F = beta * sum_m f_m).
 *
 *   for stage s = 0, 1, ...:  m = order[s mod M]
 *     boosting stage "m" (epochsPerStage epochs; new optimizer over m's encoder and the shared head):
 *       q = softmax(beta * sum_{k != m} f_k(x_k))          no gradient
 *       loss = mean_i -((w1 - w2 q_i[y_i]) / C) log softmax(f_m(x_m))_i[y_i]
 *       (the reference's alpha * MSE between two detached softmaxes has zero gradient: omitted)
 *     correction stage "ensemble" (correctEpochs epochs; new optimizer over everything and beta):
 *       loss = CE(beta * sum_m f_m, y)
 *
 * Stages run through the trainer's staged loop ({@link reconBoostPlan}): the optimizer state is
 * reset at every stage, no checkpoint is reloaded. Works for M >= 2 (q uses all other learners).
 * [project] Without pretrained learners the reference uses a constant as the other prediction in
 * stage 0; here the other (untrained) learners always enter q, which at initialisation is close
 * to uniform. The reference's learning-rate decay every 30 stages is not applied by the plan
 * (pass a schedule if a run has that many stages). Logs `reconboost/weight` (mean of
 * (w1 - w2 q_y) / C) and `reconboost/stage` (index of the trained modality, -1 for the ensemble).
 */
import {
  checkKnownKeys,
  checkNumber,
  IgmArgumentError,
  type LossFn,
  type MultimodalModelLike,
} from '@igm/core';
import {
  crossEntropy,
  oneHotTargets,
  type RunOptions,
  type StageSpec,
  type TrainerStep,
} from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import {
  checkBudget,
  type MethodBudget,
  type OptionsReader,
  type PlannedStage,
  roundsFor,
} from './budget';
import { ReconBoostModel } from './model-wrappers';

/** Name of the correction stages. */
export const ENSEMBLE_STAGE = 'ensemble';

/**
 * mean_i -((w1 - w2 q_i[y_i]) / C) log softmax(logits)_i[y_i], with `otherProbs` q constant.
 */
export function reconBoostLoss(
  logits: tf.Tensor,
  otherProbs: tf.Tensor,
  labels: tf.Tensor,
  w1: number,
  w2: number,
): tf.Scalar {
  return tf.tidy(() => {
    const C = logits.shape[1]!;
    const y = oneHotTargets(labels, C);
    const qy = tf.sum(tf.mul(otherProbs, y), 1);
    const weight = tf.div(tf.sub(w1, tf.mul(qy, w2)), C);
    const logp = tf.sum(tf.mul(tf.logSoftmax(logits as tf.Tensor2D), y), 1);
    return tf.neg(tf.mean(tf.mul(weight, logp))) as tf.Scalar;
  });
}

export interface ReconBoostStepOptions {
  /** Reconcilement weights (CREMA-D 5.0 / 1.0; AVE 4.0 / 1.0). */
  readonly w1?: number;
  readonly w2?: number;
}

export function reconBoostStep(options: ReconBoostStepOptions = {}): TrainerStep {
  const where = 'reconBoostStep';
  checkKnownKeys(where, options, ['w1', 'w2']);
  const w1 = checkNumber(where, 'w1', options.w1 ?? 5, { min: 0 });
  const w2 = checkNumber(where, 'w2', options.w2 ?? 1, { min: 0 });
  return {
    name: 'reconboost',
    describe: () => ({ step: 'reconboost', w1, w2 }),
    validate(model: MultimodalModelLike) {
      if (!(model instanceof ReconBoostModel)) {
        throw new IgmArgumentError(
          `${where}: the model must be a ReconBoostModel (encoders + shared head + beta).`,
        );
      }
    },
    run(tools) {
      const model = tools.model as ReconBoostModel;
      const stage = tools.stage;
      const { inputs, labels } = tools.batch;
      if (stage === undefined) {
        throw new IgmArgumentError(
          `${where}: the run has no stages. Use reconBoostPlan() to get the stage list.`,
        );
      }
      if (stage === ENSEMBLE_STAGE) {
        tools.log('reconboost/stage', -1);
        const lossFn: LossFn = (pass) => {
          const outputs = model.forward(inputs, {
            training: true,
            batchStatistics: pass.batchStatistics,
          });
          return { loss: crossEntropy(outputs['logits/fused']!, labels), outputs };
        };
        return tools.minimize(lossFn);
      }
      const m = stage;
      if (!model.modalities.includes(m)) {
        throw new IgmArgumentError(
          `${where}: stage "${m}" is neither a modality (${model.modalities.join(', ')}) nor "${ENSEMBLE_STAGE}".`,
        );
      }
      tools.log('reconboost/stage', model.modalities.indexOf(m));
      const others = model.modalities.filter((k) => k !== m);
      const q = tf.tidy(() => {
        const o = model.forward(inputs, { training: false, modalities: others });
        return tf.softmax(
          tf.mul(model.beta, tf.addN(others.map((k) => o[`logits/${k}`]!))) as tf.Tensor2D,
        );
      });
      tools.log(
        'reconboost/weight',
        tf.tidy(
          () =>
            tf
              .mean(
                tf.div(
                  tf.sub(w1, tf.mul(tf.sum(tf.mul(q, oneHotTargets(labels, q.shape[1]!)), 1), w2)),
                  q.shape[1]!,
                ),
              )
              .dataSync()[0]!,
        ),
      );
      const keys = [...tools.params.values()]
        .filter((p) => p.group === `encoder/${m}` || p.group === 'head/shared')
        .map((p) => p.key);
      const lossFn: LossFn = (pass) => {
        const outputs = model.forward(inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
          modalities: [m],
        });
        return { loss: reconBoostLoss(outputs[`logits/${m}`]!, q, labels, w1, w2), outputs };
      };
      return tools.minimize(lossFn, { keys });
    },
  };
}

export interface ReconBoostPlanOptions {
  /** Modalities in boosting order (reference: audio, visual). */
  readonly order: readonly string[];
  /** Number of boosting stages (each followed by a correction stage). */
  readonly stages: number;
  /** Epochs per boosting stage (reference 4). */
  readonly epochsPerStage?: number;
  /** Epochs per correction stage (reference 4). */
  readonly correctEpochs?: number;
}

/** The stage list and stage-start hook for `runTraining` (optimizer reset at every stage). */
export function reconBoostPlan(options: ReconBoostPlanOptions): {
  stages: StageSpec[];
  onStageStart: NonNullable<RunOptions['onStageStart']>;
} {
  const where = 'reconBoostPlan';
  checkKnownKeys(where, options, ['order', 'stages', 'epochsPerStage', 'correctEpochs']);
  if (!Array.isArray(options.order) || options.order.length < 2) {
    throw new IgmArgumentError(
      `${where}: received order=${JSON.stringify(options.order)}. Expected at least 2 modalities, e.g. ["audio", "visual"].`,
    );
  }
  if (options.order.includes(ENSEMBLE_STAGE)) {
    throw new IgmArgumentError(
      `${where}: a modality may not be called "${ENSEMBLE_STAGE}" (the correction stages' name).`,
    );
  }
  const n = checkNumber(where, 'stages', options.stages, { min: 1, integer: true });
  const e1 = checkNumber(where, 'epochsPerStage', options.epochsPerStage ?? 4, {
    min: 1,
    integer: true,
  });
  const e2 = checkNumber(where, 'correctEpochs', options.correctEpochs ?? 4, {
    min: 0,
    integer: true,
  });
  const stages: StageSpec[] = [];
  for (let s = 0; s < n; s++) {
    stages.push({ name: options.order[s % options.order.length]!, epochs: e1 });
    if (e2 > 0) stages.push({ name: ENSEMBLE_STAGE, epochs: e2 });
  }
  return { stages, onStageStart: (ctx) => ctx.resetOptimizer() };
}

/**
 * ReconBoost's budget (options `stages`, `epochsPerStage`, `correctEpochs`; defaults 30, 4, 4):
 * a modality is trained in its own boosting stages and in every correction stage (which trains
 * all encoders). A round is one boosting stage per modality, each followed by its correction;
 * scaling keeps the boosting : correction ratio and the number of rounds (fewer only when the
 * budget is smaller) and multiplies the stage lengths so that every modality gets the smallest
 * total >= the budget. CREMA-D's 30 x (4 + 4) at 100 epochs -> 30 x (3 + 3): 135 epochs per
 * modality; at 20 epochs -> 14 x (1 + 1): 21.
 */
export function reconBoostBudget(
  where: string,
  read: OptionsReader<{
    readonly stages: number;
    readonly epochsPerStage: number;
    readonly correctEpochs: number;
  }>,
): MethodBudget {
  const stageLengths = (o: Record<string, unknown>) => {
    const r = read(o);
    return { stages: r.stages, boost: r.epochsPerStage, correct: r.correctEpochs };
  };
  return {
    kind: 'stage-wise',
    plan(o, modalities) {
      const { stages: n, boost, correct } = stageLengths(o);
      const stages: PlannedStage[] = [];
      for (let s = 0; s < n; s++) {
        const m = modalities[s % modalities.length]!;
        stages.push({ modality: m, epochs: boost, trains: [m] });
        if (correct > 0)
          stages.push({ modality: ENSEMBLE_STAGE, epochs: correct, trains: modalities });
      }
      const perModality = Object.fromEntries(
        modalities.map((m) => [
          m,
          stages.filter((st) => st.trains.includes(m)).reduce((a, st) => a + st.epochs, 0),
        ]),
      );
      return { epochs: stages.reduce((a, st) => a + st.epochs, 0), perModality, stages };
    },
    scale(o, epochs, modalities) {
      const n = checkBudget(where, epochs);
      const { stages, boost, correct } = stageLengths(o);
      const M = modalities.length;
      const shortest = correct > 0 ? Math.min(boost, correct) : boost;
      const perRound = (boost + M * correct) / shortest;
      const { rounds, unit } = roundsFor(n, Math.max(1, Math.floor(stages / M)), perRound);
      return {
        ...o,
        stages: rounds * M,
        epochsPerStage: Math.ceil((unit * boost) / shortest),
        correctEpochs: correct > 0 ? Math.ceil((unit * correct) / shortest) : 0,
      };
    },
  };
}
