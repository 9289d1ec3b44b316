export * from './batch-wise';
export * from './mixup';
export * from './stage-wise';
