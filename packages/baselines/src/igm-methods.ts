/**
 * IGM and IGM w/o SAM in the registry, built from the `igm()` composition of `@igm/igm`
 * (stage-wise alternating trainer + chain(sam, flatProjection, sgd)). `methods` holds both,
 * built with `igm` from `@igm/igm`; `registerIgmMethods(factory)` replaces them (e.g. with a
 * configured or instrumented factory).
 *
 * Model: per-modality heads (IGM's Dense(d->256) -> ReLU -> Dense(256->64) -> Dense(64->C) by
 * default, `headHidden` to change), fused by the mean of the per-modality softmaxes as the
 * official code (`fusion: 'sum-log-softmax'` for the product of experts, a departure from it).
 * The losses are per modality either way; the fused prediction selects the best checkpoint,
 * which IGM reloads at every stage boundary, so the fusion rule can change the trajectory.
 */

import type { StageBoundary } from '@igm/alternating-trainer';
import { stageWise } from '@igm/alternating-trainer';
import {
  choiceOption,
  type GradientTransform,
  IgmArgumentError,
  type MultimodalModelLike,
  numberOption,
  objectOption,
} from '@igm/core';
import { igmOptionFields } from '@igm/igm';
import { MultimodalModel } from '@igm/models';
import type { TrainerStep } from '@igm/trainer';
import { z } from 'zod';
import {
  checkBudget,
  type MethodBudget,
  type OptionsReader,
  type PlannedStage,
  roundsFor,
} from './budget';
import { LATE_FUSION_RULES, lateFusionLabel } from './common';
import { defineMethod, type MethodInfo, methodRun } from './method-definition';

/**
 * The shape of `igm()` from `@igm/igm` that the registry uses. It receives the entry's options
 * validated, with their defaults applied (without `fusion` and `headHidden`), and `sam`.
 */
export type IgmFactory = (options: Record<string, unknown> & { epochList: readonly number[] }) => {
  compose(model: MultimodalModelLike): {
    readonly order: readonly string[];
    readonly step: TrainerStep;
    readonly transform: GradientTransform<any>;
    readonly beforeStage: (boundary: StageBoundary) => Promise<void>;
    readonly config: Record<string, unknown>;
  };
};

/**
 * IGM's budget: stage s trains order[s mod M] for epochList[s] epochs, so a modality's budget is
 * the sum of its stages. Scaling keeps the reference's round (one stage per modality, e.g.
 * CREMA-D's [25, 50]: the second modality trains twice as long) and its number of rounds (fewer
 * only when the budget is smaller): the round is multiplied so that its shortest stage times the
 * rounds is the smallest value >= the budget. [25, 50] x 6 at 100 epochs -> [17, 34] x 6
 * (102 / 204 epochs per modality); at 1 epoch -> [1, 2]. An epoch list that is not a repetition
 * of one round (e.g. a two-modality list on three modalities) has every stage multiplied by
 * budget / (smallest per-modality total), rounded up.
 */
export function igmBudget(
  where: string,
  read: OptionsReader<{
    readonly epochList: readonly number[];
    readonly order?: readonly string[] | undefined;
  }>,
): MethodBudget {
  const stagesOf = (o: Record<string, unknown>, modalities: readonly string[]) => {
    const { epochList, order } = read(o);
    return { list: epochList, order: order ?? modalities };
  };
  return {
    kind: 'stage-wise',
    plan(o, modalities) {
      const { list, order } = stagesOf(o, modalities);
      const stages: PlannedStage[] = list.map((epochs, s) => {
        const m = order[s % order.length]!;
        return { modality: m, epochs, trains: [m] };
      });
      const perModality: Record<string, number> = Object.fromEntries(
        [...new Set([...modalities, ...order])].map((m) => [m, 0]),
      );
      for (const st of stages) perModality[st.modality] = perModality[st.modality]! + st.epochs;
      return { epochs: list.reduce((a, b) => a + b, 0), perModality, stages };
    },
    scale(o, epochs, modalities) {
      const n = checkBudget(where, epochs);
      const { list, order } = stagesOf(o, modalities);
      const M = order.length;
      const round = list.slice(0, M);
      const repeated = list.length % M === 0 && list.every((e, s) => e === round[s % M]);
      if (!repeated) {
        // Not rounds of one stage per modality (e.g. a two-modality list on three modalities):
        // every stage is scaled by n / (smallest per-modality total), rounded up.
        const totals = order.map((m, i) => list.reduce((a, e, s) => (s % M === i ? a + e : a), 0));
        const missing = order.filter((_, i) => totals[i] === 0);
        if (missing.length) {
          throw new IgmArgumentError(
            `${where}: epochList ${JSON.stringify(list)} has no stage for ${missing.join(', ')} (order ${order.join(', ')}); give at least one stage per modality.`,
          );
        }
        const f = n / Math.min(...totals);
        return { ...o, epochList: list.map((e) => Math.ceil(e * f)) };
      }
      const shortest = Math.min(...round);
      const { rounds, unit } = roundsFor(n, list.length / M, 1);
      const scaled = round.map((e) => Math.ceil((unit * e) / shortest));
      return { ...o, epochList: Array.from({ length: rounds }, () => scaled).flat() };
    },
  };
}

/** The hidden layers of a head: Dense units and activation. */
const denseSpec = objectOption(
  {
    units: numberOption({ min: 1, integer: true }),
    activation: choiceOption(['relu', 'linear']).optional(),
  },
  '{ units, activation? } with units an integer >= 1 and activation "relu" or "linear"',
);
const HIDDEN_EXPECTED =
  'a list of { units, activation? } layers, or { <modality>: list } per modality';

/**
 * The options of the registry entry: those of `igm()` (one declaration, in `@igm/igm`) without
 * `sam`, which the entry fixes, and `optimizer`, a transform object; with the model's `fusion` and
 * `headHidden`. IGM w/o SAM has no SAM radius and no flat loss (`rho`, `flatRatio`).
 */
export function igmRegistrySchema(withSam: boolean) {
  const { sam: _sam, optimizer: _optimizer, ...shared } = igmOptionFields;
  const { rho: _rho, flatRatio: _flatRatio, ...withoutSam } = shared;
  return z.strictObject({
    fusion: choiceOption(LATE_FUSION_RULES)
      .default('mean-softmax')
      .describe(
        "How the per-modality heads are fused for the prediction: 'mean-softmax' (the official code) or 'sum-log-softmax' (product of experts, a departure from it). The losses stay per modality, but the fused prediction selects the checkpoint reloaded at every stage.",
      ),
    ...(withSam ? shared : withoutSam),
    headHidden: z
      .union([z.array(denseSpec), z.record(z.string(), z.array(denseSpec))], {
        error: HIDDEN_EXPECTED,
      })
      .optional()
      .meta({
        expected: HIDDEN_EXPECTED,
        defaultText: "IGM's head: Dense(256) -> ReLU -> Dense(64), then Dense(C)",
      })
      .describe("Hidden layers of each modality's head before the Dense(d -> C) output layer."),
  });
}

/** The registry entry 'igm' (withSam) or 'igm-no-sam', built with `factory`. */
export function igmMethodInfo(factory: IgmFactory, withSam: boolean): MethodInfo {
  const name = withSam ? 'igm' : 'igm-no-sam';
  return defineMethod({
    name,
    description: withSam
      ? 'IGM: stage-wise alternating unimodal training with SAM and the flat projection T of the previous modality.'
      : 'IGM w/o SAM: IGM with plain CE (the flat projection stays).',
    schema: igmRegistrySchema(withSam),
    modalities: { min: 2, max: Infinity, note: '' },
    budget: igmBudget,
    create(o, env) {
      const { headHidden, fusion, ...rest } = o;
      const method = factory({ ...rest, sam: withSam });
      const model = new MultimodalModel({
        encoders: env.encoders(),
        numClasses: env.numClasses,
        head: { type: 'per-modality', ...(headHidden ? { hidden: headHidden } : {}) },
        fusion: { type: fusion },
        seed: env.seed ?? 0,
      });
      const c = method.compose(model);
      const plan = stageWise({
        order: c.order,
        epochList: rest.epochList,
        beforeStage: c.beforeStage,
      });
      return methodRun(name, {
        model,
        step: c.step,
        transform: c.transform,
        callbacks: [],
        stages: plan.stages,
        onStageStart: plan.onStageStart,
        fusionRule: lateFusionLabel(fusion, 'mean of softmaxes'),
        unimodalProtocol: 'own head per modality',
        config: { ...c.config, fusion },
      });
    },
  });
}
