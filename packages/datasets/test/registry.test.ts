import { describe, expect, it } from 'vitest';
import { DATASET_NAMES, datasetModalities, describeDataset, loadDataset } from '../src/node';

describe('loadDataset and describeDataset', () => {
  it('loads by name and describes the dataset', async () => {
    const ds = await loadDataset('synthetic', { classes: 3, samples: { train: 6, test: 3 } });
    const text = describeDataset(ds);
    expect(text).toContain('dataset: synthetic');
    expect(text).toContain('audio (audio) [16]');
    expect(text).toContain('classes (3): class-0, class-1, class-2');
    expect(text).toContain('splits: train 6, test 3');
    expect(text).toMatch(/signal: \{"audio":0\.8,"visual":0\.8\}/);
  });

  it('lists the valid names for an unknown one', async () => {
    expect(DATASET_NAMES).toHaveLength(8);
    await expect(loadDataset('cremad' as never)).rejects.toThrow(
      /name="cremad".*"synthetic", "av-mnist", "av-mnist-imbalanced", "crema-d", "kinetics-sounds", "twitter-2015", "sarcasm", "nvgesture"/,
    );
  });

  it('passes options through to the loader (missing root -> the loader’s error)', async () => {
    await expect(loadDataset('crema-d', { root: '/nonexistent/crema' })).rejects.toThrow(
      /\/nonexistent\/crema: dataset folder not found/,
    );
  });

  it('datasetModalities: the loaded order from name and options alone', async () => {
    for (const modalities of [undefined, 3, ['b', { name: 'a', shape: [4, 4] }]] as const) {
      const ds = await loadDataset('synthetic', { modalities, samples: { train: 3, test: 3 } });
      expect(datasetModalities('synthetic', { modalities })).toEqual(
        ds.modalities.map((m) => m.name),
      );
    }
    expect(datasetModalities('nvgesture', { modalities: ['depth', 'rgb'] })).toEqual([
      'depth',
      'rgb',
    ]);
    expect(datasetModalities('crema-d', { root: '/nonexistent' })).toEqual(['audio', 'visual']);
    expect(() => datasetModalities('cremad' as never)).toThrow(/name="cremad".*"synthetic"/);
  });
});
