export * from './igm';
export * from './official-step';
