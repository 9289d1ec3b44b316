export * from './agm';
export * from './common';
export * from './mmpareto';
export * from './model-wrappers';
export * from './ogm-ge';
export * from './pmr';
export * from './reconboost';
