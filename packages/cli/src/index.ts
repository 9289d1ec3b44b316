export type { BackendChoice, BackendRequest } from './backend';
export {
  BACKEND_REQUESTS,
  BackendUnavailableError,
  describeBackendChoice,
  selectBackend,
} from './backend';
export { buildProgram, main } from './cli';
export type { ComparisonHooks, ComparisonResult } from './compare';
export { openDataset, runComparison, testContributions } from './compare';
export type { CompareConfig } from './config';
export { ConfigError, compareConfigSchema, readConfigFile, resolveCompareConfig } from './config';
export * from './report';
