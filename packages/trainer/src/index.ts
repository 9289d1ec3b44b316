export * from './checkpoint';
export { type DriverPosition, TransformDriver } from './driver';
export * from './evaluate';
export * from './indexeddb';
export * from './losses';
export * from './probe';
export * from './progress';
export {
  type CheckpointOptions,
  type DivergencePosition,
  type EpochRecord,
  type EpochSamplesContext,
  epochSeed,
  type RunOptions,
  type RunSummary,
  runTraining,
  type SelectedResult,
  type SelectionOptions,
  type StageSpec,
  type StageStartContext,
  TrainingDivergedError,
} from './run';
export * from './step';
export * from './storage';
