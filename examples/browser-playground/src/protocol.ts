/** Messages between the page (main.ts) and the training worker (worker.ts). */

export const METHODS = ['joint', 'mla', 'igm'] as const;
export type MethodName = (typeof METHODS)[number];

export type BackendChoice = 'wasm' | 'webgpu' | 'webgl' | 'cpu';

/** What a session trains; stored with its checkpoints so that a resume uses the same settings. */
export interface SessionConfig {
  readonly backend: BackendChoice;
  /** Epochs every modality's encoder trains in every method (the budget rule of @igm/baselines). */
  readonly epochs: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly methods: readonly MethodName[];
}

export type ToWorker =
  | { type: 'inspect'; backend: BackendChoice }
  | { type: 'start'; config: SessionConfig }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'reset' };

export interface BackendInfo {
  /** The backend tfjs runs on. */
  readonly backend: string;
  /** Backends this browser offers (WebGPU needs an adapter, WebGL a context in the worker). */
  readonly available: Record<BackendChoice, boolean>;
  readonly crossOriginIsolated: boolean;
  /** wasm only: the build the backend loaded and its thread count. */
  readonly wasm?: {
    readonly build: 'threaded-simd' | 'simd' | 'plain';
    readonly threads: number;
    /** navigator.hardwareConcurrency of the worker. */
    readonly cores: number;
    /** @igm/wasm-training's kernels, 'override' (replaces the stock one) or 'added'. */
    readonly kernels: ReadonlyArray<{ kernelName: string; action: string }>;
    /** Which build of the package's own SIMD module runs ('relaxed-simd', 'simd' or 'js'). */
    readonly nativeKernels: 'relaxed-simd' | 'simd' | 'js';
  };
}

export interface DataInfo {
  readonly recordings: number;
  readonly splits: Record<string, number>;
  readonly audioShape: readonly number[];
  readonly seconds: number;
}

/** One epoch of a method: test (and validation) accuracy, fused and per modality. */
export interface EpochPoint {
  readonly method: MethodName;
  readonly epoch: number;
  readonly step: number;
  readonly stage?: string;
  readonly trainLoss: number;
  readonly test: Record<string, number>;
  readonly validation: Record<string, number>;
}

export interface MethodState {
  readonly method: MethodName;
  readonly status: 'pending' | 'running' | 'stopped' | 'completed';
  /** Steps done (from the last checkpoint when stopped). */
  readonly step: number;
  readonly totalSteps: number;
  readonly history: readonly EpochPoint[];
  /** Test accuracies at the epoch chosen on validation (completed methods). */
  readonly best?: { epoch: number; test: Record<string, number> };
}

export type FromWorker =
  | { type: 'backend'; info: BackendInfo }
  | { type: 'data'; info: DataInfo }
  | { type: 'missing-data'; message: string }
  | { type: 'session'; config: SessionConfig | null; methods: MethodState[] }
  | { type: 'method-start'; method: MethodName; resumedFromStep: number | null; totalSteps: number }
  | { type: 'step'; method: MethodName; step: number; totalSteps: number; loss: number }
  | { type: 'epoch'; point: EpochPoint }
  | { type: 'method-done'; state: MethodState }
  | { type: 'stopped'; method: MethodName; step: number; checkpoint: string }
  | { type: 'done' }
  | { type: 'status'; text: string }
  | { type: 'error'; message: string };
