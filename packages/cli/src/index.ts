export type { BackendChoice, BackendRequest } from './backend';
export {
  BACKEND_REQUESTS,
  BackendUnavailableError,
  describeBackendChoice,
  selectBackend,
} from './backend';
export { buildProgram, main } from './cli';
export type { ComparisonHooks, ComparisonResult } from './compare';
export { openDataset, runComparison } from './compare';
export type { CompareConfig } from './config';
export { ConfigError, compareConfigSchema, readConfigFile, resolveCompareConfig } from './config';
export type { DryRun, DryRunEntry } from './dry-run';
export { describeStages, dryRun, formatDryRun } from './dry-run';
export type {
  GridJob,
  GridJobProgress,
  GridJobResult,
  GridSettings,
  RunFailure,
} from './grid/job';
export { QUEUE_NAME, QUEUE_PREFIX } from './grid/job';
export { maskSecrets, parseRedisUrl, type RedisTarget } from './grid/redis-url';
export { type RunWorkerOptions, runWorker } from './grid/worker';
export type { RunSpec } from './plan';
export {
  budgetOf,
  checkVariants,
  methodOf,
  modalitiesOf,
  PROBE_REFERENCE_METHOD,
  planOfRun,
  planRuns,
  resolveRun,
} from './plan';
export * from './report';
export type { RunJobContext, RunJobResult } from './run-job';
export { runDirOf, runJob, testContributions } from './run-job';
