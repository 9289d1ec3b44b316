export * from './checkpoint';
export { type DriverPosition, TransformDriver } from './driver';
export * from './evaluate';
export * from './indexeddb';
export * from './losses';
export * from './probe';
export * from './progress';
export * from './run';
export * from './step';
