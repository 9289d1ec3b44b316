export * from './common';
export * from './ogm-ge';
