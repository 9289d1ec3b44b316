/**
 * @igm/metrics: how @igm scores a trained model. Classification metrics with scikit-learn
 * semantics (accuracy, confusion matrix, macro-F1, mean average precision) on scores or
 * probabilities, and modality contributions (exact and sampled Shapley values, imbalance degree)
 * from the accuracies of modality coalitions.
 */
export {
  allCoalitions,
  coalitionKey,
  imbalanceDegree,
  sampleShapleyContributions,
  shapleyContributions,
  unimodalAccuracyGap,
} from './contribution';
export type {
  ConfusionMatrixOptions,
  LabelsInput,
  MacroF1Options,
  MeanAveragePrecision,
  ScoresInput,
} from './metrics';
export { accuracy, confusionMatrix, macroF1, meanAveragePrecision } from './metrics';
