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
  checkKnownKeys,
  checkNumber,
  type GradientTransform,
  IgmArgumentError,
  type MultimodalModelLike,
} from '@igm/core';
import { type DenseSpec, MultimodalModel } from '@igm/models';
import type { TrainerStep } from '@igm/trainer';
import { type MethodBudget, type PlannedStage, roundsFor } from './budget';
import { lateFusionLabel, lateFusionOption } from './common';
import type { MethodInfo, MethodRun } from './methods';

/** The shape of `igm()` from `@igm/igm` that the registry uses. */
export type IgmFactory = (options: Record<string, unknown> & { epochList: readonly number[] }) => {
  compose(model: MultimodalModelLike): {
    readonly order: readonly string[];
    readonly step: TrainerStep;
    readonly transform: GradientTransform<any>;
    readonly beforeStage: (boundary: StageBoundary) => Promise<void>;
    readonly config: Record<string, unknown>;
  };
};

const IGM_KEYS = [
  'fusion',
  'variant',
  'order',
  'epochList',
  'tau',
  'rho',
  'mixup',
  'flatRatio',
  'learningRate',
  'momentum',
  'weightDecay',
  'lrStepSize',
  'lrGamma',
  'headHidden',
];

function epochListOf(where: string, o: Record<string, unknown>): number[] {
  const list = o['epochList'];
  if (!Array.isArray(list) || list.length === 0) {
    throw new IgmArgumentError(
      `${where}: epochList is required (epochs per stage, e.g. [25, 50, 25, 50]); received ${JSON.stringify(list)}.`,
    );
  }
  return list.map((e, s) => checkNumber(where, `epochList[${s}]`, e, { min: 1, integer: true }));
}

function orderOf(o: Record<string, unknown>, modalities: readonly string[]): readonly string[] {
  return Array.isArray(o['order']) ? (o['order'] as string[]) : modalities;
}

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
export function igmBudget(where: string): MethodBudget {
  return {
    kind: 'stage-wise',
    plan(o, modalities) {
      const list = epochListOf(where, o);
      const order = orderOf(o, modalities);
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
      const n = checkNumber(where, 'epochs (budget)', epochs, { min: 1, integer: true });
      const list = epochListOf(where, o);
      const order = orderOf(o, modalities);
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

/** The registry entry 'igm' (withSam) or 'igm-no-sam', built with `factory`. */
export function igmMethodInfo(factory: IgmFactory, withSam: boolean): MethodInfo {
  const name = withSam ? 'igm' : 'igm-no-sam';
  const options = withSam ? IGM_KEYS : IGM_KEYS.filter((k) => k !== 'rho' && k !== 'flatRatio');
  return {
    name,
    description: withSam
      ? 'IGM: stage-wise alternating unimodal training with SAM and the flat projection T of the previous modality (ALGORITHMS.md 1).'
      : 'IGM w/o SAM: IGM with plain CE (the flat projection stays).',
    options,
    modalities: { min: 2, max: Infinity, note: '' },
    budget: igmBudget(`methods["${name}"]`),
    create(o, env): MethodRun {
      const where = `methods["${name}"]`;
      checkKnownKeys(where, o ?? {}, options);
      const fusion = lateFusionOption(where, o ?? {});
      const fusionRule = lateFusionLabel(fusion, 'mean of softmaxes');
      const {
        headHidden,
        fusion: _fusion,
        ...rest
      } = o as Record<string, unknown> & { headHidden?: DenseSpec[] };
      if (!Array.isArray(rest['epochList'])) {
        throw new IgmArgumentError(
          `${where}: epochList is required (epochs per stage, e.g. [25, 50, 25, 50]).`,
        );
      }
      const method = factory({ ...(rest as { epochList: number[] }), sam: withSam });
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
        epochList: rest['epochList'] as number[],
        beforeStage: c.beforeStage,
      });
      const config = { ...c.config, fusion };
      const run: MethodRun = {
        method: name,
        model,
        step: c.step,
        transform: c.transform,
        callbacks: [],
        stages: plan.stages,
        onStageStart: plan.onStageStart,
        fusionRule,
        unimodalProtocol: 'own head per modality',
        config,
        trainOptions: () => ({
          model,
          step: c.step,
          transform: c.transform,
          callbacks: [],
          fusionRule,
          config: { method: name, unimodalProtocol: 'own head per modality', options: config },
          stages: plan.stages,
          onStageStart: plan.onStageStart,
        }),
        dispose: () => model.dispose(),
      };
      return run;
    },
  };
}
