/**
 * Learning-rate (or any hyper-parameter) schedules (docs/algorithms/optimizers.md#schedules).
 * A {@link Schedule} is a pure function of `{ step, epoch }`; `unit` says which count it reads
 * ('epoch' by default, PyTorch's `lr_scheduler.step()` once per epoch, or 'step' for per-batch
 * schedules). Every count is 0-based. Pass a schedule wherever a `ScalarOrSchedule` is
 * accepted, e.g.
 * `sgd({ learningRate: stepLR({ initial: 1e-3, stepSize: 70, gamma: 0.1 }) })`.
 */
import { checkChoice, checkKnownKeys, checkNumber, IgmArgumentError } from './errors';
import type { ScalarOrSchedule, Schedule } from './types';

export type ScheduleUnit = 'epoch' | 'step';

function unitOf(where: string, unit: unknown): ScheduleUnit {
  return checkChoice(where, 'unit', unit ?? 'epoch', ['epoch', 'step'] as const);
}

function reader(unit: ScheduleUnit): (c: { step: number; epoch: number }) => number {
  return unit === 'epoch' ? (c) => c.epoch : (c) => c.step;
}

/** `lr(n) = value`. MMPareto's constant rate. */
export function constant(value: number): Schedule {
  const v = checkNumber('constant', 'value', value);
  return () => v;
}

export interface StepLROptions {
  initial: number;
  /** Decay every `stepSize` counts. */
  stepSize: number;
  /** Multiplicative factor. Default 0.1. */
  gamma?: number;
  /**
   * IGM calls `scheduler.step()` *before* each epoch, so epoch e already uses the rate of
   * epoch e + 1: `lr(e) = initial * gamma^floor((e + 1) / stepSize)`. Default false (PyTorch's
   * usual step after each epoch: OGM-GE, PMR, AGM, MLA).
   */
  stepBeforeEpoch?: boolean;
  unit?: ScheduleUnit;
}

/**
 * PyTorch `StepLR`: `lr(n) = initial * gamma^floor(n / stepSize)`; with `stepBeforeEpoch`,
 * `lr(n) = initial * gamma^floor((n + 1) / stepSize)` (IGM).
 */
export function stepLR(options: StepLROptions): Schedule {
  checkKnownKeys('stepLR', options, ['initial', 'stepSize', 'gamma', 'stepBeforeEpoch', 'unit']);
  const initial = checkNumber('stepLR', 'initial', options?.initial, { min: 0 });
  const stepSize = checkNumber('stepLR', 'stepSize', options.stepSize, { min: 1, integer: true });
  const gamma = checkNumber('stepLR', 'gamma', options.gamma ?? 0.1, { min: 0 });
  const shift = options.stepBeforeEpoch ? 1 : 0;
  const read = reader(unitOf('stepLR', options.unit));
  return (c) => initial * gamma ** Math.floor((read(c) + shift) / stepSize);
}

export interface MultiStepOptions {
  initial: number;
  /** Increasing counts at which the rate is multiplied by gamma. */
  milestones: readonly number[];
  /** Default 0.1. */
  gamma?: number;
  unit?: ScheduleUnit;
}

/** PyTorch `MultiStepLR`: `lr(n) = initial * gamma^(number of milestones <= n)`. */
export function multiStep(options: MultiStepOptions): Schedule {
  checkKnownKeys('multiStep', options, ['initial', 'milestones', 'gamma', 'unit']);
  const initial = checkNumber('multiStep', 'initial', options?.initial, { min: 0 });
  const gamma = checkNumber('multiStep', 'gamma', options.gamma ?? 0.1, { min: 0 });
  if (!Array.isArray(options.milestones)) {
    throw new IgmArgumentError(
      `multiStep: received milestones=${String(options.milestones)}. Expected an array of increasing integers.`,
    );
  }
  const milestones = options.milestones.map((m, i) =>
    checkNumber('multiStep', `milestones[${i}]`, m, { min: 0, integer: true }),
  );
  for (let i = 1; i < milestones.length; i++) {
    if (milestones[i]! <= milestones[i - 1]!) {
      throw new IgmArgumentError(
        `multiStep: received milestones=[${milestones.join(', ')}]. Expected strictly increasing counts.`,
      );
    }
  }
  const read = reader(unitOf('multiStep', options.unit));
  return (c) => {
    const n = read(c);
    return initial * gamma ** milestones.filter((m) => m <= n).length;
  };
}

export interface WarmupOptions {
  /** Counts (epochs by default) at the start that use `factor * lr`. Default 1. */
  warmupEpochs?: number;
  /** Default 2/3 (IGM text-image: two thirds of the rate in epoch 0). */
  factor?: number;
  unit?: ScheduleUnit;
}

/**
 * Constant-factor warm-up in front of another schedule (IGM text-image):
 *
 *   lr(n) = factor * base(n)   if n < warmupEpochs
 *   lr(n) = base(n)            otherwise
 */
export function warmup(base: ScalarOrSchedule, options: WarmupOptions = {}): Schedule {
  checkKnownKeys('warmup', options, ['warmupEpochs', 'factor', 'unit']);
  const n0 = checkNumber('warmup', 'warmupEpochs', options.warmupEpochs ?? 1, {
    min: 0,
    integer: true,
  });
  const factor = checkNumber('warmup', 'factor', options.factor ?? 2 / 3, { min: 0 });
  const inner: Schedule =
    typeof base === 'function' ? base : constant(checkNumber('warmup', 'base', base, { min: 0 }));
  const read = reader(unitOf('warmup', options.unit));
  return (c) => (read(c) < n0 ? factor * inner(c) : inner(c));
}

export interface CosineOptions {
  initial: number;
  /** Half period T_max in counts. */
  tMax: number;
  /** Minimum rate. Default 0. */
  etaMin?: number;
  unit?: ScheduleUnit;
}

/**
 * PyTorch `CosineAnnealingLR` (Loshchilov & Hutter 2017, without restarts), closed form:
 *
 *   lr(n) = etaMin + (initial - etaMin) * (1 + cos(pi * n / tMax)) / 2
 *
 * Past tMax it rises again (period 2 tMax), as PyTorch's recursive form does.
 */
export function cosine(options: CosineOptions): Schedule {
  checkKnownKeys('cosine', options, ['initial', 'tMax', 'etaMin', 'unit']);
  const initial = checkNumber('cosine', 'initial', options?.initial, { min: 0 });
  const tMax = checkNumber('cosine', 'tMax', options.tMax, { min: 1, integer: true });
  const etaMin = checkNumber('cosine', 'etaMin', options.etaMin ?? 0, { min: 0 });
  const read = reader(unitOf('cosine', options.unit));
  return (c) => etaMin + ((initial - etaMin) * (1 + Math.cos((Math.PI * read(c)) / tMax))) / 2;
}
