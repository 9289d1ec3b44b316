export * from './report';
export { runComparison, testContributions, openDataset } from './compare';
export type { ComparisonHooks, ComparisonResult } from './compare';
export { selectBackend, describeBackendChoice, BackendUnavailableError, BACKEND_REQUESTS } from './backend';
export type { BackendChoice, BackendRequest } from './backend';
export { resolveCompareConfig, compareConfigSchema, readConfigFile, ConfigError } from './config';
export type { CompareConfig } from './config';
export { buildProgram, main } from './cli';
