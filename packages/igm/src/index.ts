export * from './igm';
export * from './official-step';
export * from './options';
