import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthetic } from '@igm/datasets';
import { mlpEncoder } from '@igm/models';
import { describeEachBackend } from '@igm/test-utils';
import { runTraining } from '@igm/trainer';
import { expect, it } from 'vitest';
import { type AgmController, createMethod, preset } from '../src';

describeEachBackend('checkpointed method state', () => {
  it("AGM's running scores and scales are saved in the run checkpoint and restored on resume", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'igm-agm-'));
    const dataset = synthetic({
      classes: 3,
      samples: { train: 48, validation: 16, test: 16 },
      signal: { audio: 0.9, visual: 0.4 },
    });
    const env = {
      dataset,
      numClasses: 3,
      batchSize: 16,
      encoders: () => ({
        audio: mlpEncoder({ inputDim: 16, units: [8], seed: 1 }),
        visual: mlpEncoder({ inputDim: 16, units: [8], seed: 2 }),
      }),
    };
    const first = createMethod('agm', preset('synthetic', 'agm', { epochs: 2 }), env);
    await runTraining({
      ...first.trainOptions(),
      dataset,
      batchSize: 16,
      progress: 'none',
      checkpoint: { dir },
    });
    const controller = first.callbacks[0] as AgmController;
    const saved = JSON.parse(readFileSync(join(dir, 'last', 'state.json'), 'utf8')) as {
      callbacks: Record<string, unknown>;
    };
    expect(saved.callbacks['agm']).toEqual(controller.getState());
    expect(controller.running['audio']).toBeGreaterThan(0);
    first.dispose();
    // A fresh method resumed from the checkpoint continues from the saved running state.
    const second = createMethod('agm', preset('synthetic', 'agm', { epochs: 2 }), env);
    await runTraining({
      ...second.trainOptions(),
      dataset,
      batchSize: 16,
      progress: 'none',
      checkpoint: { dir },
      resume: true,
    });
    expect((second.callbacks[0] as AgmController).getState()).toEqual(saved.callbacks['agm']);
    second.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
});
