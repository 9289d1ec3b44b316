import { loadFixture } from '@igm/test-utils';

export interface MatrixCase {
  name: string;
  tau: number;
  nB: number;
  Y: number[][];
  T: number[][];
  Tsvd: number[][];
  eighVsSvdMaxAbs: number;
  sMin: number;
  sMax: number;
  direction?: number[];
}

export interface DenseLayer {
  kernel: number[][];
  bias: number[];
}

export interface OwmRun {
  denominator: 'scalar' | 'outer';
  normalize: boolean;
  batchesPerEpoch: number;
  features: Record<string, number[][][]>;
  steps: Array<{
    modality: string;
    batchIndex: number;
    alpha: number;
    P: number[][];
    grad: number[][];
    projected: number[][];
    skipped: boolean;
  }>;
}

export interface Fixture {
  accumulator: { batches: number[][][]; Y: number[][] };
  matrices: MatrixCase[];
  igm: {
    tau: number;
    lr: number;
    momentum: number;
    weightDecay: number;
    textLayers: DenseLayer[];
    textReluAfter: number[];
    imageLayers: DenseLayer[];
    imageReluAfter: number[];
    textBatches: number[][][];
    textY: number[][][];
    textT: number[][][];
    imageBatches: Array<{ x: number[][]; labels: number[] }>;
    expected: DenseLayer[];
  };
  owm: OwmRun[];
}

/** Produced by tools/reference/flat-projection/make_fixtures.py (torch, float64). */
export const fixture = loadFixture<Fixture>(new URL('./fixtures/flat.json', import.meta.url));
