/**
 * `igm compare|train ... --dry-run [--json]`: the resolved plan of a comparison without training,
 * loading data or starting a backend, so budgets can be checked before spending hours:
 *
 *   { "runs": [ { "method", "seed", "epochs", "stages": [ { "modality", "epochs", "trains" } ],
 *                 "perModality", "batchSize", "options", "baseMethod"?, "role"? } ],
 *     "dataset", "preset", "budget", "modalities", "jobs"? }
 *
 * `epochs` is the run's total; `stages` (stage-wise methods only) the stage list in order, where
 * `modality` is the stage's name (a modality, or ReconBoost's 'ensemble' correction) and
 * `trains` the modalities whose encoders it trains; `perModality` the epochs each modality's
 * encoder is trained. `budget` is the per-modality minimum the config asks for (quick preset or
 * --epochs), null for the paper preset as published. `jobs` is how many runs igm compare would run
 * at once on this machine (`--jobs`, decided as for a fresh start: a resumed comparison counts
 * only the runs left); absent with `--queue`, where the workers decide.
 */
import type { PlannedStage } from '@igm/baselines';
import type { CompareConfig } from './config';
import { describeJobs, type JobsDecision } from './jobs';
import { budgetOf, modalitiesOf, planOfRun, planRuns } from './plan';

/** One planned run. */
export interface DryRunEntry {
  readonly method: string;
  readonly seed: number;
  readonly epochs: number;
  readonly stages?: readonly PlannedStage[];
  readonly perModality: Readonly<Record<string, number>>;
  readonly batchSize: number;
  readonly options: Record<string, unknown>;
  readonly baseMethod?: string;
  readonly role?: 'probe-reference';
}

export interface DryRun {
  readonly runs: readonly DryRunEntry[];
  readonly dataset: string;
  readonly preset: string;
  /** Every modality trains at least this many epochs in every run; null: the presets as given. */
  readonly budget: number | null;
  readonly modalities: readonly string[];
  /** Runs at once on this machine (see the module doc); absent with a queue. */
  readonly jobs?: number;
}

/** The plan of `config` (see the module doc); the caller adds `jobs` (see jobs.ts). */
export function dryRun(config: CompareConfig): DryRun {
  const runs = planRuns(config).map((spec): DryRunEntry => {
    const plan = planOfRun(spec, config);
    return {
      method: spec.method,
      seed: spec.seed,
      epochs: plan.epochs,
      ...(plan.stages ? { stages: plan.stages } : {}),
      perModality: plan.perModality,
      batchSize: spec.batchSize,
      options: spec.options,
      ...(spec.baseMethod !== spec.method ? { baseMethod: spec.baseMethod } : {}),
      ...(spec.role ? { role: spec.role } : {}),
    };
  });
  return {
    runs,
    dataset: config.dataset,
    preset: config.preset,
    budget: budgetOf(config) ?? null,
    modalities: modalitiesOf(config),
  };
}

/** "(audio 4, visual 8) x 6": a stage list folded on its shortest period. */
export function describeStages(stages: readonly PlannedStage[]): string {
  const items = stages.map((s) => `${s.modality} ${s.epochs}`);
  for (let p = 1; p < items.length; p++) {
    if (items.length % p !== 0) continue;
    if (items.every((v, i) => v === items[i % p])) {
      return `(${items.slice(0, p).join(', ')}) x ${items.length / p}`;
    }
  }
  return items.join(', ');
}

/** The plan as a table for the terminal; `jobs`: how it would run, as igm compare says it. */
export function formatDryRun(plan: DryRun, jobs?: JobsDecision): string {
  const header = ['method', 'seed', 'batch', 'epochs', ...plan.modalities, 'stages'];
  const rows = plan.runs.map((r) => [
    `${r.method}${r.role ? ' *' : ''}${r.baseMethod ? ` (${r.baseMethod})` : ''}`,
    String(r.seed),
    String(r.batchSize),
    String(r.epochs),
    ...plan.modalities.map((m) => String(r.perModality[m] ?? '–')),
    r.stages ? describeStages(r.stages) : '–',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const budget =
    plan.budget === null
      ? 'the presets as published'
      : `every modality >= ${plan.budget} epochs in every method`;
  return [
    `Plan (dry run, nothing trained): ${plan.dataset} (${plan.modalities.join(', ')}), preset ${plan.preset}, budget: ${budget}. ${plan.runs.length} runs${jobs ? `, ${describeJobs(jobs)}` : ''}.`,
    `Columns: batch = training batch size (--batch-size, else the preset's); ${plan.modalities.join(', ')} = epochs in which that modality's encoder is trained.`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...(plan.runs.some((r) => r.role)
      ? ['', '* probe reference: the encoders trained on each modality alone (for utilization).']
      : []),
  ].join('\n');
}
