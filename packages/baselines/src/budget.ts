/**
 * Epoch budgets: how long a method trains each modality, planned from its options alone (no
 * model, no data), and how its options are rescaled to a target budget.
 *
 * Every registered method carries a {@link MethodBudget} (`methods[name].budget`). The CLI's
 * quick preset, `igm compare --epochs N` and `igm compare --dry-run` go through it, so a budget
 * means the same thing for every method:
 *
 *   per-modality budget of m = the epochs in which m's encoder is trained
 *     joint-training methods (joint, OGM-GE, PMR, AGM, MLA, MMPareto, unimodal): `epochs`
 *     stage-wise methods: the sum of the stages that train m (IGM: m's own stages; ReconBoost:
 *       m's boosting stages plus every correction stage, which trains all encoders)
 *
 *   scale(options, N): every modality gets at least N epochs, and the method keeps its shape:
 *     joint-training: epochs = N; epoch windows ({ start, end }, e.g. OGM-GE's modulation window)
 *       are scaled by N / epochs so they cover the same fraction of the run
 *     stage-wise: rounds of one stage per modality keep the reference's round shape (IGM's
 *       [25, 50]: the second modality trains twice as long as the first) and number of rounds
 *       (fewer only when N is smaller than it); the round is multiplied so that the shortest
 *       per-modality total is the smallest value >= N. The pattern is scaled, never cut.
 *
 * Learning-rate schedules (`lrStepSize`) are kept as given, in epochs.
 *
 *   const plan = planBudget('igm', preset('cremad', 'igm'), ['audio', 'visual']);
 *   // { epochs: 450, perModality: { audio: 150, visual: 300 }, stages: [{ modality: 'audio', epochs: 25, ... }, ...] }
 *   const opts = scaleBudget('igm', preset('cremad', 'igm'), 20, ['audio', 'visual']);
 *   // opts.epochList: [4, 8] x 6 (audio 24 epochs, visual 48: both >= 20)
 *
 * A new method adds `budget: singleRunBudget()` (trained `epochs` epochs on all modalities at
 * once) or its own {@link MethodBudget}.
 */
import { checkNumber, IgmArgumentError } from '@igm/core';

/** One stage of a planned run. */
export interface PlannedStage {
  /** The stage's name: the modality it trains, or e.g. 'ensemble' for ReconBoost's corrections. */
  readonly modality: string;
  readonly epochs: number;
  /** The modalities whose encoders this stage trains. */
  readonly trains: readonly string[];
}

/** The schedule a method's options give. */
export interface BudgetPlan {
  /** Total epochs of the run (all stages). */
  readonly epochs: number;
  /** Epochs in which each modality's encoder is trained. */
  readonly perModality: Readonly<Record<string, number>>;
  /** Stage-wise methods: the stages in order. */
  readonly stages?: readonly PlannedStage[];
}

/** A method's budget rule (see the module doc). */
export interface MethodBudget {
  /** 'single-run': `epochs` epochs on every modality at once; 'stage-wise': a stage list. */
  readonly kind: 'single-run' | 'stage-wise';
  /** The schedule `options` give for these modalities (in dataset order). */
  plan(options: Record<string, unknown>, modalities: readonly string[]): BudgetPlan;
  /**
   * `options` with their epoch budget rescaled so that every modality trains at least `epochs`
   * epochs (other keys untouched). `plan(scale(o, N, mods), mods)` satisfies the rule.
   */
  scale(
    options: Record<string, unknown>,
    epochs: number,
    modalities: readonly string[],
  ): Record<string, unknown>;
}

/** The smallest per-modality epoch count of a plan. */
export function minModalityEpochs(plan: BudgetPlan): number {
  const v = Object.values(plan.perModality);
  return v.length ? Math.min(...v) : 0;
}

/** The target budget of `scale`: an integer >= 1. */
export function checkBudget(where: string, epochs: number): number {
  return checkNumber(where, 'epochs (budget)', epochs, { min: 1, integer: true });
}

/** An epoch window { start, end } (0-based, inclusive) scaled by f: same fraction of the run. */
function scaleWindow(where: string, key: string, w: unknown, f: number): unknown {
  if (w === undefined || w === null) return w;
  const o = w as { start?: unknown; end?: unknown };
  if (typeof o !== 'object') {
    throw new IgmArgumentError(
      `${where}: received ${key}=${JSON.stringify(w)}. Expected { start, end } (0-based epochs, inclusive).`,
    );
  }
  const start = o.start === undefined ? 0 : Number(o.start);
  const s = Math.round(start * f);
  if (o.end === undefined || o.end === null) return { ...o, start: s };
  const endExclusive = Math.max(s + 1, Math.round((Number(o.end) + 1) * f));
  return { ...o, start: s, end: endExclusive - 1 };
}

/**
 * Reads a method's options as its schema resolves them (validated, defaults applied): the
 * registry hands one to each budget rule, so a rule reads e.g. `read(o).epochs` and never
 * repeats a default or a range check.
 */
export type OptionsReader<T> = (options: Record<string, unknown>) => T;

/**
 * The budget of a method trained `epochs` epochs on every modality at once (default
 * `defaultEpochs` when the options omit it). `windowKeys` name options holding an epoch window
 * { start, end }, scaled with the run.
 */
export function singleRunBudget(
  where: string,
  { defaultEpochs = 100, windowKeys = [] as readonly string[] } = {},
): MethodBudget {
  return singleRunBudgetFrom(
    where,
    (o) => checkNumber(where, 'epochs', o['epochs'] ?? defaultEpochs, { min: 1, integer: true }),
    { windowKeys },
  );
}

/**
 * {@link singleRunBudget} with the run's epochs read by `epochsOf` (e.g. from the method's
 * validated options, see {@link OptionsReader}).
 */
export function singleRunBudgetFrom(
  where: string,
  epochsOf: OptionsReader<number>,
  { windowKeys = [] as readonly string[] } = {},
): MethodBudget {
  return {
    kind: 'single-run',
    plan(o, modalities) {
      const epochs = epochsOf(o);
      return { epochs, perModality: Object.fromEntries(modalities.map((m) => [m, epochs])) };
    },
    scale(o, epochs) {
      const n = checkBudget(where, epochs);
      const f = n / epochsOf(o);
      const out: Record<string, unknown> = { ...o, epochs: n };
      for (const k of windowKeys) {
        if (o[k] !== undefined) out[k] = scaleWindow(where, k, o[k], f);
      }
      return out;
    },
  };
}

/**
 * Rounds and unit for a round-based schedule: `rounds` (<= the reference's `maxRounds`, fewer
 * only when the budget is smaller) and `unit`, the length of the round's shortest stage, so that
 * rounds x unit x `perRound` >= epochs, where `perRound` is the smallest per-modality epoch count
 * of one round at unit 1.
 */
export function roundsFor(
  epochs: number,
  maxRounds: number,
  perRound: number,
): { rounds: number; unit: number } {
  const rounds = Math.max(1, Math.min(maxRounds, Math.ceil(epochs / perRound)));
  return { rounds, unit: Math.ceil(epochs / (rounds * perRound)) };
}
