export type { ScaleByAdamOptions, ScaleByAdamState } from './adam';
export { scaleByAdam } from './adam';
export type { TraceMomentumOptions, TraceMomentumState } from './momentum';
export { traceMomentum } from './momentum';
export type { AdamOptions, SgdOptions } from './optimizers';
export { adam, adamw, sgd } from './optimizers';
export type { ScaleByLearningRateOptions } from './scale';
export { scale, scaleByLearningRate } from './scale';
export type { SgdMomentumUpdateAttrs, SgdMomentumUpdateInputs } from './sgd-momentum-kernel';
export {
  checkSgdMomentumUpdateCall,
  IgmSgdMomentumUpdate,
  registerCpuSgdMomentumKernel,
  sgdMomentumUpdateInto,
  unregisterCpuSgdMomentumKernel,
} from './sgd-momentum-kernel';
export { addDecayedWeights } from './weight-decay';
