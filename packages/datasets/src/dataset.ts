/**
 * The streaming machinery shared by every dataset: a `SampleSource` knows the split lists and
 * reads a batch of samples into flat Float32Arrays; `StreamingDataset` turns it into the
 * `MultimodalDataset` contract of @igm/core (seeded shuffling, drop-last, one batch read ahead,
 * tensors created only when a batch is handed out, so an abandoned iteration leaks nothing).
 * A source that holds every sample in memory can instead have its samples uploaded to the
 * backend once and each batch gathered there (`StreamingDataset.keepSamplesOnBackend`).
 */
import {
  type BatchOptions,
  checkChoice,
  checkKnownKeys,
  checkNumber,
  createRng,
  IgmArgumentError,
  type ModalitySpec,
  type MultimodalBatch,
  type MultimodalDataset,
  mixSeed,
  type Rng,
  type Split,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';

export const SPLITS: readonly Split[] = ['train', 'validation', 'test'];

/** What a loader provides: split lists and a batch reader. */
export interface SampleSource {
  readonly name: string;
  readonly modalities: readonly ModalitySpec[];
  readonly classNames: readonly string[];
  /** Sample ids of a split in canonical order, or undefined when the dataset has no such split. */
  ids(split: Split): readonly string[] | undefined;
  /** Integer labels of a split, aligned with `ids(split)`. */
  labels(split: Split): Int32Array;
  /**
   * Reads samples `indices` of `split`; returns, per modality, a Float32Array of
   * `indices.length * prod(shape)` values in sample order. `rng` drives augmentation only.
   */
  readBatch(
    split: Split,
    indices: readonly number[],
    options: { augment: boolean; rng: Rng },
  ): Promise<Record<string, Float32Array>>;
  /**
   * Every sample in memory, when the source holds them (else undefined): see
   * {@link InMemorySamples}. Offered only by sources whose `readBatch` returns exactly these rows
   * whatever `augment` says (no augmentation), so that a batch gathered from them equals the
   * batch `readBatch` reads; a source that augments must not implement it.
   */
  inMemorySamples?(): InMemorySamples | undefined;
}

/** The samples of a source held in memory: one block per modality and each split's rows in it. */
export interface InMemorySamples {
  /** Rows of every block. */
  readonly rows: number;
  /** Per modality, row-major [rows, ...shape] values (a sample's values are one row). */
  readonly values: Readonly<Record<string, Float32Array>>;
  /** The block row of each sample of `split`, in the split's canonical order. */
  rowsOf(split: Split): Int32Array;
}

/** Extra, dataset-specific information for `describeDataset` (pairing seeds, recipes, cache keys). */
export interface DatasetInfo {
  readonly [key: string]: unknown;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

const BATCH_KEYS = ['split', 'batchSize', 'shuffle', 'seed', 'dropLast', 'augment', 'indices'];

/** The `indices` option checked against a split of `n` samples (a copy, as an Int32Array). */
function checkIndices(where: string, indices: unknown, n: number): Int32Array {
  if (!Array.isArray(indices) && !(indices instanceof Int32Array)) {
    throw new IgmArgumentError(
      `${where}: received indices=${String(indices)}. Expected an array of sample positions of the split (integers in [0, ${n})).`,
    );
  }
  const out = Int32Array.from(indices as ArrayLike<number>);
  for (let k = 0; k < out.length; k++) {
    const v = (indices as ArrayLike<number>)[k]!;
    if (!Number.isInteger(v) || v < 0 || v >= n) {
      throw new IgmArgumentError(
        `${where}: received indices[${k}]=${v}. Expected an integer position in [0, ${n}) (the split has ${n} samples).`,
      );
    }
  }
  return out;
}

/**
 * A `MultimodalDataset` over a `SampleSource`.
 *
 * Order: the canonical split order, or with `shuffle: true` a permutation drawn from
 * `createRng(mixSeed(seed, split))`, so the same seed gives the same order on every platform.
 * With `indices`, the listed positions (repeats allowed) take the place of the split's order.
 * Augmentation randomness is seeded per batch from the same seed.
 */
export class StreamingDataset implements MultimodalDataset {
  readonly name: string;
  readonly modalities: readonly ModalitySpec[];
  readonly classNames: readonly string[];
  readonly splitSizes: Readonly<Partial<Record<Split, number>>>;
  readonly info: DatasetInfo;
  /** The source's in-memory samples while `keepSamplesOnBackend` is on. */
  private inMemory: InMemorySamples | undefined;
  /** Those samples uploaded to a backend (one tensor per modality), once a batch needed them. */
  private onBackend:
    | { readonly backend: tf.KernelBackend; readonly blocks: Record<string, tf.Tensor> }
    | undefined;

  constructor(
    readonly source: SampleSource,
    info: DatasetInfo = {},
  ) {
    this.name = source.name;
    this.modalities = source.modalities;
    this.classNames = source.classNames;
    const sizes: Partial<Record<Split, number>> = {};
    for (const split of SPLITS) {
      const ids = source.ids(split);
      if (ids) sizes[split] = ids.length;
    }
    this.splitSizes = sizes;
    this.info = info;
  }

  /**
   * Gathers each batch on the backend (`enabled`, the default) from the samples uploaded there
   * once, one tensor per modality [rows, ...shape], instead of copying each batch's rows on the
   * host into a new Float32Array and uploading that (`false`, the initial mode). The batches are
   * the same values in the same order either way (a gather copies rows as they are); what
   * changes is the cost: no per-batch host copy, upload or garbage, for one upload of every
   * sample (the tensors stay until `dispose()`, and count in `tf.memory()` from the first batch
   * on). It pays where the backend's GatherV2 is fast: wasm with @igm/wasm-training's kernels
   * (64 rows of [3000, 2520] in ~35 µs), GPU backends. Stock tfjs-backend-wasm (~6 ms for
   * the 64 rows of both AV-MNIST-style modalities) and the cpu backend (~14 ms) gather more slowly
   * than the host copies (~0.3 ms), so leave it off there.
   *
   * Only sources that hold every sample in memory offer it (`SampleSource.inMemorySamples`: the
   * AV-MNIST-style datasets, whose record files are read whole); elsewhere batches keep being
   * read on the host. Returns whether batches are now gathered on the backend. Uploads happen at
   * the first batch handed out, to the backend active then (again after a backend change).
   */
  keepSamplesOnBackend(enabled = true): boolean {
    if (!enabled) {
      this.dispose();
      this.inMemory = undefined;
      return false;
    }
    this.inMemory ??= this.checkedInMemorySamples();
    return this.inMemory !== undefined;
  }

  /**
   * Releases the tensors `keepSamplesOnBackend` uploaded. The dataset stays usable: with the
   * mode still on, the next batch uploads the samples again.
   */
  dispose(): void {
    const blocks = this.onBackend?.blocks;
    this.onBackend = undefined;
    if (blocks) tf.dispose(Object.values(blocks));
  }

  private checkedInMemorySamples(): InMemorySamples | undefined {
    const samples = this.source.inMemorySamples?.();
    if (!samples) return undefined;
    for (const spec of this.modalities) {
      const values = samples.values[spec.name];
      const expected = samples.rows * sizeOf(spec.shape);
      if (!values || values.length !== expected) {
        throw new Error(
          `${this.source.name}: the in-memory samples of modality "${spec.name}" have ${values?.length ?? 'no'} values; expected ${samples.rows} rows x [${spec.shape.join(', ')}] = ${expected}.`,
        );
      }
    }
    for (const split of SPLITS) {
      const n = this.source.ids(split)?.length;
      if (n === undefined) continue;
      const rows = samples.rowsOf(split);
      const bad = rows.findIndex((r) => !(r >= 0 && r < samples.rows));
      if (rows.length !== n || bad >= 0) {
        throw new Error(
          `${this.source.name}: the in-memory rows of split "${split}" ${rows.length !== n ? `number ${rows.length}; expected one per sample (${n})` : `include row ${rows[bad]} at position ${bad}; expected rows in [0, ${samples.rows})`}.`,
        );
      }
    }
    return samples;
  }

  /** The in-memory samples on the active backend, uploaded now if they are not there yet. */
  private blocksOnBackend(samples: InMemorySamples): Record<string, tf.Tensor> {
    const backend = tf.backend();
    const current = this.onBackend;
    if (current?.backend === backend && Object.values(current.blocks).every((t) => !t.isDisposed)) {
      return current.blocks;
    }
    this.dispose();
    const blocks: Record<string, tf.Tensor> = {};
    try {
      for (const spec of this.modalities) {
        // Kept: a scope the first batch happens to be handed out in must not dispose them.
        blocks[spec.name] = tf.keep(
          tf.tensor(samples.values[spec.name]!, [samples.rows, ...spec.shape], 'float32'),
        );
      }
    } catch (e) {
      tf.dispose(Object.values(blocks));
      throw e;
    }
    this.onBackend = { backend, blocks };
    return blocks;
  }

  /** Sample ids of a split in canonical order. */
  ids(split: Split): readonly string[] {
    return this.requireSplit(split, 'ids');
  }

  /** Labels of a split in canonical order (a copy). */
  labels(split: Split): Int32Array {
    this.requireSplit(split, 'labels');
    return Int32Array.from(this.source.labels(split));
  }

  private requireSplit(split: Split, where: string): readonly string[] {
    checkChoice(`${this.name}.${where}`, 'split', split, SPLITS);
    const ids = this.source.ids(split);
    if (!ids) {
      const have = SPLITS.filter((s) => this.source.ids(s));
      throw new IgmArgumentError(
        `${this.name}.${where}: received split="${split}", which this dataset does not have. Available splits: ${have.join(', ')}.`,
      );
    }
    return ids;
  }

  batches(options: BatchOptions): AsyncIterable<MultimodalBatch> {
    const where = `${this.name}.batches`;
    checkKnownKeys(where, options, BATCH_KEYS);
    const ids = this.requireSplit(options?.split, 'batches');
    const batchSize = checkNumber(where, 'batchSize', options.batchSize, { min: 1, integer: true });
    const seed = options.seed ?? 0;
    checkNumber(where, 'seed', seed, { integer: true });
    const shuffle = options.shuffle ?? false;
    const dropLast = options.dropLast ?? false;
    const augment = options.augment ?? options.split === 'train';
    const split = options.split;
    const source = this.source;
    const visit =
      options.indices === undefined ? undefined : checkIndices(where, options.indices, ids.length);
    const n = visit ? visit.length : ids.length;
    const permutation = shuffle
      ? createRng(mixSeed(seed, `order/${split}`)).permutation(n)
      : Int32Array.from({ length: n }, (_, i) => i);
    const order = visit ? permutation.map((k) => visit[k]!) : permutation;
    const numBatches = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
    const labels = source.labels(split);
    const specs = this.modalities;

    const inMemory = this.inMemory;
    if (inMemory) {
      const blocksOnBackend = (m: InMemorySamples) => this.blocksOnBackend(m);
      const rows = inMemory.rowsOf(split);
      return {
        async *[Symbol.asyncIterator]() {
          for (let b = 0; b < numBatches; b++) {
            const positions = order.subarray(b * batchSize, Math.min(n, (b + 1) * batchSize));
            const blocks = blocksOnBackend(inMemory);
            const inputs = tf.tidy(() => {
              const at = tf.tensor1d(
                Int32Array.from(positions, (i) => rows[i]!),
                'int32',
              );
              const out: Record<string, tf.Tensor> = {};
              for (const spec of specs) out[spec.name] = tf.gather(blocks[spec.name]!, at);
              return out;
            });
            const batchLabels = tf.tensor1d(
              Int32Array.from(positions, (i) => labels[i]!),
              'int32',
            );
            yield { inputs, labels: batchLabels, ids: Array.from(positions, (i) => ids[i]!) };
          }
        },
      };
    }

    const read = (b: number) => {
      const indices = Array.from(order.subarray(b * batchSize, Math.min(n, (b + 1) * batchSize)));
      const rng = createRng(mixSeed(seed, `augment/${split}/${b}`));
      return source.readBatch(split, indices, { augment, rng }).then((data) => ({ indices, data }));
    };

    return {
      async *[Symbol.asyncIterator]() {
        let pending = numBatches > 0 ? read(0) : undefined;
        for (let b = 0; b < numBatches; b++) {
          const { indices, data } = await pending!;
          // Read the next batch while the caller uses this one.
          pending = b + 1 < numBatches ? read(b + 1) : undefined;
          pending?.catch(() => {});
          const inputs: Record<string, tf.Tensor> = {};
          for (const spec of specs) {
            const values = data[spec.name];
            if (!values || values.length !== indices.length * sizeOf(spec.shape)) {
              throw new Error(
                `${source.name}: reader returned ${values?.length ?? 'nothing'} values for modality "${spec.name}"; expected ${indices.length} x [${spec.shape.join(', ')}].`,
              );
            }
            inputs[spec.name] = tf.tensor(values, [indices.length, ...spec.shape], 'float32');
          }
          const batchLabels = tf.tensor1d(
            Int32Array.from(indices, (i) => labels[i]!),
            'int32',
          );
          yield { inputs, labels: batchLabels, ids: indices.map((i) => ids[i]!) };
        }
      },
    };
  }
}
