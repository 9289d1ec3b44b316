export type { Plot } from './plots';
export { buildPlots } from './plots';
export { formatPercent, meanStd } from './stats';
export type {
  CellValue,
  ColumnUnit,
  ResultsJson,
  ResultsTable,
  Statistic,
  TableRow,
} from './table';
export {
  buildResultsTable,
  printedColumns,
  reportedMetrics,
  statistic,
  tableToJson,
  tableToMarkdown,
  tableToText,
} from './table';
export * from './types';
export { UTILIZATION_REFERENCE, withUtilization } from './utilization';
export {
  readRunDirectory,
  renderHtml,
  renderMarkdown,
  writeFileAtomic,
  writeReport,
} from './write';
