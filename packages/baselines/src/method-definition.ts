/**
 * What a registry method is: {@link MethodInfo} (name, description, option schema, supported
 * modality counts, epoch budget, builder), what it builds ({@link MethodRun}) and from what
 * ({@link MethodEnvironment}), and {@link defineMethod}, which makes a MethodInfo from one zod
 * schema of the method's options: the same schema validates the options of `create`, of the
 * budget plans and of the presets, gives their TypeScript types and the method listing.
 *
 *   const myMethod = defineMethod({
 *     name: 'my-method',
 *     description: 'Joint training with a scaled loss.',
 *     schema: z.strictObject({
 *       ...commonOptionFields(),
 *       scale: numberOption({ min: 0 }).default(1).describe('Loss scale.'),
 *     }),
 *     modalities: { min: 2, max: Infinity, note: '' },
 *     create: (o, env) => methodRun('my-method', { ... }),   // o: validated, typed, defaults applied
 *   });
 *   registerMethod(myMethod);
 */
import {
  type Callback,
  type GradientTransform,
  IgmArgumentError,
  type MultimodalDataset,
  type MultimodalModelLike,
  parseOptions,
} from '@igm/core';
import type { RunOptions, StageSpec, TrainerStep } from '@igm/trainer';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { z } from 'zod';
import { type MethodBudget, type OptionsReader, singleRunBudgetFrom } from './budget';

/** What a method needs to build its model and callbacks. */
export interface MethodEnvironment {
  /** Fresh encoders, one per modality, in modality order (each call builds new ones). */
  readonly encoders: () => Record<string, tfl.LayersModel>;
  readonly numClasses: number;
  /** The training data (PMR's prototype pass reads it). */
  readonly dataset: MultimodalDataset;
  /** Training batch size (PMR's prototype pass uses it). */
  readonly batchSize: number;
  /** Seed of the head initialisation. Default 0. */
  readonly seed?: number;
}

/** A method bound to a model: the pieces `runTraining` takes. */
export interface MethodRun {
  readonly method: string;
  readonly model: MultimodalModelLike;
  readonly step: TrainerStep;
  readonly transform: GradientTransform<any>;
  readonly callbacks: readonly Callback[];
  readonly epochs?: number;
  readonly stages?: readonly StageSpec[];
  readonly onStageStart?: RunOptions['onStageStart'];
  /** Re-sampling of the training split per epoch (SMV). */
  readonly epochSamples?: RunOptions['epochSamples'];
  /** How `fused` is formed (recorded in results). */
  readonly fusionRule: string;
  /** How per-modality numbers are obtained (weight slice, separate head, Shapley...). */
  readonly unimodalProtocol: string;
  /** Resolved options (recorded in the run config). */
  readonly config: Record<string, unknown>;
  /** The options for `runTraining` (add dataset, batchSize, seed...). */
  trainOptions(): Pick<
    RunOptions,
    'model' | 'step' | 'transform' | 'callbacks' | 'fusionRule' | 'config'
  > &
    Partial<Pick<RunOptions, 'epochs' | 'stages' | 'onStageStart' | 'epochSamples'>>;
  dispose(): void;
}

/** The modality counts a method supports, and why when limited. */
export interface ModalityRange {
  readonly min: number;
  readonly max: number;
  readonly note: string;
}

export interface MethodInfo {
  readonly name: string;
  readonly description: string;
  /** The method's options: validation, defaults, meaning (see `describeMethods()`). */
  readonly schema: z.ZodObject;
  /** Accepted option keys (the schema's keys, common options first). */
  readonly options: readonly string[];
  /** Modality counts the method supports, and why when limited. */
  readonly modalities: ModalityRange;
  /**
   * The method's epoch budget: its plan from options alone and how options scale to a target
   * budget (see budget.ts). The quick preset, `--epochs` and `--dry-run` of the CLI need it; a
   * method registered without one can still be created and trained with explicit options.
   */
  readonly budget?: MethodBudget;
  /**
   * `options` validated by the schema, with the defaults applied; an error names the method, the
   * option and the bad value, and says what is expected. An option set to null means its default
   * (unless null is one of its values, as lrStepSize: null for a constant rate).
   */
  parseOptions(options: Record<string, unknown> | undefined): Record<string, unknown>;
  /** Validates options (throws on unknown keys or bad values) and builds the composition. */
  create(options: Record<string, unknown>, env: MethodEnvironment): MethodRun;
}

/** A method declared from its option schema (see {@link defineMethod}). */
export interface MethodSpec<S extends z.ZodObject> {
  readonly name: string;
  readonly description: string;
  readonly schema: S;
  readonly modalities: ModalityRange;
  /**
   * The epoch budget, reading the options through the schema (validated, defaults applied).
   * Default: `epochs` epochs on every modality at once, an epoch window option `window`
   * scaled with the run ({@link singleRunBudgetFrom}).
   */
  readonly budget?: (where: string, read: OptionsReader<z.output<S>>) => MethodBudget;
  /** Builds the composition from the validated options. */
  readonly create: (options: z.output<S>, env: MethodEnvironment, where: string) => MethodRun;
}

/** How errors name method `name`: `methods["ogm-ge"]`. */
export function methodWhere(name: string): string {
  return `methods["${name}"]`;
}

function modalityCount({ min, max }: ModalityRange): string {
  if (min === max) return String(min);
  return `${min}-${max === Infinity ? 'any' : max}`;
}

/** A {@link MethodInfo} from the method's option schema and builder. */
export function defineMethod<S extends z.ZodObject>(spec: MethodSpec<S>): MethodInfo {
  const { name, schema, modalities } = spec;
  const where = methodWhere(name);
  const read = (o: Record<string, unknown> | undefined): z.output<S> =>
    parseOptions(where, schema, o);
  const budget = spec.budget
    ? spec.budget(where, read)
    : singleRunBudgetFrom(where, (o) => (read(o) as { epochs: number }).epochs, {
        windowKeys: Object.hasOwn(schema.shape, 'window') ? ['window'] : [],
      });
  return {
    name,
    description: spec.description,
    schema,
    options: Object.keys(schema.shape),
    modalities,
    budget,
    parseOptions: read as (o: Record<string, unknown> | undefined) => Record<string, unknown>,
    create(options, env) {
      const o = read(options);
      const dataNames = env.dataset.modalities.map((m) => m.name);
      if (dataNames.length < modalities.min || dataNames.length > modalities.max) {
        throw new IgmArgumentError(
          `${where}: the dataset has ${dataNames.length} modalities (${dataNames.join(', ')}); ${name} supports ${modalityCount(modalities)}. ${modalities.note}`,
        );
      }
      return spec.create(o, env, where);
    },
  };
}

/** A {@link MethodRun} from its parts (`dispose` also disposes the model). */
export function methodRun(
  method: string,
  parts: Omit<MethodRun, 'method' | 'trainOptions' | 'dispose'> & { dispose?: () => void },
): MethodRun {
  const run: MethodRun = {
    method,
    ...parts,
    trainOptions() {
      return {
        model: run.model,
        step: run.step,
        transform: run.transform,
        callbacks: [...run.callbacks],
        fusionRule: run.fusionRule,
        config: { method, unimodalProtocol: run.unimodalProtocol, options: run.config },
        ...(run.stages ? { stages: [...run.stages] } : { epochs: run.epochs! }),
        ...(run.onStageStart ? { onStageStart: run.onStageStart } : {}),
        ...(run.epochSamples ? { epochSamples: run.epochSamples } : {}),
      };
    },
    dispose() {
      parts.dispose?.();
      run.model.dispose();
    },
  };
  return run;
}
