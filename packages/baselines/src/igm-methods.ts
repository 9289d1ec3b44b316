/**
 * IGM and IGM w/o SAM in the registry, built from the `igm()` composition of `@igm/igm`
 * (stage-wise alternating trainer + chain(sam, flatProjection, sgd)). `methods` holds both,
 * built with `igm` from `@igm/igm`; `registerIgmMethods(factory)` replaces them (e.g. with a
 * configured or instrumented factory).
 *
 * Model: per-modality heads (IGM's Dense(d->256) -> ReLU -> Dense(256->64) -> Dense(64->C) by
 * default, `headHidden` to change), fused by the mean of the per-modality softmaxes.
 */

import type { StageBoundary } from '@igm/alternating-trainer';
import { stageWise } from '@igm/alternating-trainer';
import {
  checkKnownKeys,
  type GradientTransform,
  IgmArgumentError,
  type MultimodalModelLike,
} from '@igm/core';
import { type DenseSpec, MultimodalModel } from '@igm/models';
import type { TrainerStep } from '@igm/trainer';
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
    create(o, env): MethodRun {
      const where = `methods["${name}"]`;
      checkKnownKeys(where, o ?? {}, options);
      const { headHidden, ...rest } = o as Record<string, unknown> & { headHidden?: DenseSpec[] };
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
        fusion: { type: 'mean-softmax' },
        seed: env.seed ?? 0,
      });
      const c = method.compose(model);
      const plan = stageWise({
        order: c.order,
        epochList: rest['epochList'] as number[],
        beforeStage: c.beforeStage,
      });
      const run: MethodRun = {
        method: name,
        model,
        step: c.step,
        transform: c.transform,
        callbacks: [],
        stages: plan.stages,
        onStageStart: plan.onStageStart,
        fusionRule: 'mean softmax',
        unimodalProtocol: 'own head per modality',
        config: c.config,
        trainOptions: () => ({
          model,
          step: c.step,
          transform: c.transform,
          callbacks: [],
          fusionRule: 'mean softmax',
          config: { method: name, unimodalProtocol: 'own head per modality', options: c.config },
          stages: plan.stages,
          onStageStart: plan.onStageStart,
        }),
        dispose: () => model.dispose(),
      };
      return run;
    },
  };
}
