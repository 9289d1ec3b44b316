/**
 * What a comparison report is made of. The run loop writes one `RunRecord` per (method, seed)
 * into `runs/<name>/summary.json` and per-epoch lines into `metrics.jsonl`; `igm report`
 * rebuilds `report.md` and `report.html` from them alone.
 */
import type { LinearProbeResult } from '@igm/trainer';

/** Metrics of one evaluation (fused and per modality). */
export interface EvalMetrics {
  readonly accuracy: number;
  readonly macroF1: number;
  /** Absent for datasets that report accuracy and F1 only (text-image). */
  readonly mAP?: number;
  /** Per-modality accuracy/F1, with the unimodal protocol named in `RunRecord.unimodalProtocol`. */
  readonly perModality: Readonly<Record<string, { accuracy: number; macroF1: number }>>;
  /** Number of evaluated samples. */
  readonly samples: number;
}

/** One line of metrics.jsonl. */
export interface EpochRecord {
  readonly method: string;
  readonly seed: number;
  readonly epoch: number;
  /** Modality trained in this epoch, for alternating methods. */
  readonly stage?: string;
  readonly validation?: EvalMetrics;
  readonly test: EvalMetrics;
  readonly trainLoss: number;
  readonly seconds: number;
  /** Values the method logged (lr, OGM-GE coefficients, AGM scales, ...), epoch means. */
  readonly logs: Readonly<Record<string, number>>;
}

/** The spectrum of a flat-projection matrix T built at a stage boundary (IGM). */
export interface SpectrumRecord {
  readonly stage: number;
  readonly layer: string;
  /** Eigenvalues of T, descending, in [e^-tau, 1]. */
  readonly eigenvalues: readonly number[];
}

/**
 * The linear probe of a run's encoders, as `linearProbe` of @igm/trainer returns it: recipe,
 * test and train accuracy per modality (selected checkpoint's encoders), rows used, and the
 * fit's iterations and convergence per modality.
 */
export type ProbeRecord = LinearProbeResult;

export interface RunRecord {
  /** The name the run is listed under: a registered method or a variant label. */
  readonly method: string;
  /** The registered method behind a variant label (absent when `method` is one). */
  readonly baseMethod?: string;
  /** 'probe-reference': a unimodal run the plan added as the utilization reference. */
  readonly role?: 'probe-reference';
  readonly seed: number;
  readonly dataset: string;
  /** e.g. IGM 'paper' | 'official', MLA projection form. */
  readonly variant?: string;
  readonly fusionRule: string;
  readonly unimodalProtocol: string;
  readonly modalities: readonly string[];
  /** Which split chose the reported checkpoint, and on which metric. */
  readonly selection: { readonly split: 'validation' | 'test'; readonly metric: string };
  readonly bestOnValidation?: { readonly epoch: number; readonly test: EvalMetrics };
  readonly final: { readonly epoch: number; readonly test: EvalMetrics };
  /** Reference protocol (best test epoch), labelled as such in the report. */
  readonly bestOnTest: { readonly epoch: number; readonly test: EvalMetrics };
  /**
   * Shapley contribution of each modality on the test set
   * (docs/algorithms/evaluation.md#modality-contributions).
   */
  readonly contributions?: Readonly<Record<string, number>>;
  readonly imbalanceDegree?: number;
  readonly secondsPerEpoch: number;
  readonly peakMemoryMB: number;
  readonly spectra?: readonly SpectrumRecord[];
  /** Linear probe of each modality's encoder. */
  readonly probe?: ProbeRecord;
  /**
   * probe(this run) / probe(the same seed's unimodal run), per modality: how much of what its
   * encoder learns alone a modality keeps in this method (1 = as much). Set when both exist.
   */
  readonly utilization?: Readonly<Record<string, number>>;
}

/** A run of the comparison that ended with an error: it has no record, so no row in the table. */
export interface FailedRun {
  readonly method: string;
  readonly seed: number;
  /** The error it ended with (secrets masked). */
  readonly error: string;
  /** How many times it was started (grids retry transient failures). */
  readonly attempts?: number;
}

export interface ComparisonSummary {
  readonly name: string;
  readonly dataset: string;
  readonly datasetLabel: string;
  readonly backend: string;
  readonly createdAt: string;
  readonly runs: readonly RunRecord[];
  /** Runs that failed (absent when none did): the report lists them under the table. */
  readonly failures?: readonly FailedRun[];
}
