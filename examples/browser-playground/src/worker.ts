/**
 * The playground's training worker: loads the AV-MNIST-style subset, starts the backend (wasm
 * with @igm/wasm-training's kernels unless another is chosen), and trains the session's methods
 * one after another with @igm/baselines' compositions and @igm/trainer's runTraining. Records
 * and checkpoints of each method go to IndexedDB (indexedDbStorage), so a stopped or reloaded
 * page resumes from the stored checkpoint.
 */
import { createMethod, preset, scaleBudget } from '@igm/baselines';
import { avMnistFromBytes, type StreamingDataset } from '@igm/datasets';
import { type EpochRecord, indexedDbStorage, type RunStorage, runTraining } from '@igm/trainer';
import {
  nativeKernels,
  nativeKernelsAreRelaxed,
  registerWasmTrainingKernels,
} from '@igm/wasm-training';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tfl from '@tensorflow/tfjs-layers';
import type {
  BackendChoice,
  BackendInfo,
  EpochPoint,
  FromWorker,
  MethodName,
  MethodState,
  SessionConfig,
  ToWorker,
} from './protocol';
import { decodeSubset } from './subset-format';

const DATABASE = 'igm-playground';
const SESSION_RUN = 'session';
const SUBSET_URL = new URL(
  `${import.meta.env.BASE_URL}data/av-mnist-subset.bin`,
  self.location.origin,
).toString();

const post = (message: FromWorker) => (self as unknown as Worker).postMessage(message);

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlainUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
});

// ---------------------------------------------------------------------------------------------
// Backend

async function availableBackends(): Promise<Record<BackendChoice, boolean>> {
  let webgpu = false;
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (gpu) webgpu = (await gpu.requestAdapter().catch(() => null)) !== null;
  let webgl = false;
  try {
    webgl =
      typeof OffscreenCanvas !== 'undefined' && !!new OffscreenCanvas(1, 1).getContext('webgl2');
  } catch {
    webgl = false;
  }
  return { wasm: typeof WebAssembly === 'object', webgpu, webgl, cpu: true };
}

let backendReady: Promise<BackendInfo> | null = null;
let backendChoice: BackendChoice | null = null;

async function startBackend(choice: BackendChoice): Promise<BackendInfo> {
  const available = await availableBackends();
  if (!available[choice]) {
    throw new Error(
      `The ${choice} backend is not available in this browser (available: ${Object.entries(
        available,
      )
        .filter(([, ok]) => ok)
        .map(([name]) => name)
        .join(', ')}).`,
    );
  }
  if (choice === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
  // The threaded build sizes its pool from half the logical cores by default; use them all (at
  // most 4), before the backend starts.
  if (choice === 'wasm')
    setThreadsCount(Math.min(4, Math.max(1, navigator.hardwareConcurrency || 1)));
  if (!(await tf.setBackend(choice))) throw new Error(`tf.setBackend('${choice}') failed.`);
  await tf.ready();
  const info: BackendInfo = {
    backend: tf.getBackend(),
    available,
    crossOriginIsolated: self.crossOriginIsolated === true,
  };
  if (choice !== 'wasm') return info;
  const kernels = registerWasmTrainingKernels();
  const threaded = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const backend = tf.backend() as unknown as Parameters<typeof nativeKernels>[0];
  const native = nativeKernels(backend);
  return {
    ...info,
    wasm: {
      build: threaded && simd ? 'threaded-simd' : simd ? 'simd' : 'plain',
      threads: getThreadsCount(),
      cores: navigator.hardwareConcurrency || 1,
      kernels: kernels.map((k) => ({ kernelName: k.kernelName, action: k.action })),
      nativeKernels:
        native === null ? 'js' : nativeKernelsAreRelaxed(backend) ? 'relaxed-simd' : 'simd',
    },
  };
}

function ensureBackend(choice: BackendChoice): Promise<BackendInfo> {
  if (backendReady && backendChoice === choice) return backendReady;
  if (backendReady) {
    throw new Error(
      `This worker already runs the ${backendChoice} backend; reload the page to switch to ${choice}.`,
    );
  }
  backendChoice = choice;
  backendReady = startBackend(choice).then((info) => {
    post({ type: 'backend', info });
    return info;
  });
  return backendReady;
}

// ---------------------------------------------------------------------------------------------
// Data

let datasetReady: Promise<StreamingDataset> | null = null;

async function loadDataset(): Promise<StreamingDataset> {
  const started = performance.now();
  post({ type: 'status', text: 'Fetching the AV-MNIST-style subset' });
  const response = await fetch(SUBSET_URL);
  if (!response.ok) {
    throw new MissingData(
      `${SUBSET_URL} answered HTTP ${response.status}. Generate the subset first: FSDD_DIR=/path/to/free-spoken-digit-dataset/recordings pnpm --filter @igm/example-browser-playground data (pnpm dev does it too).`,
    );
  }
  const subset = decodeSubset(new Uint8Array(await response.arrayBuffer()), SUBSET_URL);
  post({
    type: 'status',
    text: `Preprocessing ${subset.recordings.length} recordings (log-mel, PCA)`,
  });
  const dataset = await avMnistFromBytes({ recordings: subset.recordings, mnist: subset.mnist });
  post({
    type: 'data',
    info: {
      recordings: subset.recordings.length,
      splits: { ...dataset.splitSizes } as Record<string, number>,
      audioShape: dataset.modalities[0]!.shape,
      seconds: (performance.now() - started) / 1000,
    },
  });
  return dataset;
}

class MissingData extends Error {}

function ensureDataset(): Promise<StreamingDataset> {
  datasetReady ??= loadDataset().catch((error) => {
    datasetReady = null;
    throw error;
  });
  return datasetReady;
}

// ---------------------------------------------------------------------------------------------
// Methods

/**
 * Flatten -> Dense(64) -> ReLU, PyTorch's default Linear initialisation: the encoder of the
 * CLI's quick preset, cheap enough for a browser tab.
 */
function denseEncoder(shape: readonly number[], seed: number, name: string): tfl.LayersModel {
  const input = tfl.input({ shape: [...shape] });
  const flat = tfl.layers.flatten({ name: 'flatten' }).apply(input) as tfl.SymbolicTensor;
  const bound = 1 / Math.sqrt(shape.reduce((a, b) => a * b, 1));
  const init = (s: number) =>
    tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed: s });
  const h = tfl.layers
    .dense({
      units: 64,
      activation: 'relu',
      kernelInitializer: init(seed),
      biasInitializer: init(seed + 1),
      name: 'fc',
    })
    .apply(flat) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: h, name });
}

/**
 * The method's av-mnist preset scaled so every modality trains `epochs` epochs; methods trained
 * for a number of epochs use a constant learning rate 0.01 (their reference StepLR steps lie
 * beyond a short run), as the CLI's quick preset does. The same rule for every method.
 */
function methodOptions(method: MethodName, config: SessionConfig, modalities: string[]) {
  const base = preset('av-mnist', method);
  const quick = method === 'igm' ? {} : { learningRate: 0.01, lrStepSize: null };
  return scaleBudget(method, { ...base, ...quick }, config.epochs, modalities);
}

function accuracies(outputs: Record<string, { accuracy: number }> | undefined) {
  return Object.fromEntries(Object.entries(outputs ?? {}).map(([k, v]) => [k, v.accuracy]));
}

function toPoint(method: MethodName, r: EpochRecord): EpochPoint {
  return {
    method,
    epoch: r.epoch,
    step: r.step,
    ...(r.stage !== undefined ? { stage: r.stage } : {}),
    trainLoss: r.trainLoss,
    test: accuracies(r.metrics.test?.outputs),
    validation: accuracies(r.metrics.validation?.outputs),
  };
}

/** The run storage of a method, which reports each metrics line as it is appended. */
function methodStorage(method: MethodName): RunStorage {
  const inner = indexedDbStorage(`${method}`, { database: DATABASE });
  return {
    ...inner,
    checkpoints: inner.checkpoints,
    async appendText(name, text) {
      await inner.appendText(name, text);
      if (name !== 'metrics.jsonl') return;
      for (const line of text.split('\n').filter(Boolean)) {
        post({ type: 'epoch', point: toPoint(method, JSON.parse(line) as EpochRecord) });
      }
    },
  };
}

async function readHistory(storage: RunStorage, method: MethodName): Promise<EpochPoint[]> {
  const text = (await storage.readText('metrics.jsonl')) ?? '';
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => toPoint(method, JSON.parse(line) as EpochRecord));
}

interface StoredSummary {
  steps: number;
  best: {
    epoch: number;
    metrics: { test?: { outputs: Record<string, { accuracy: number }> } };
  } | null;
}

async function methodState(method: MethodName, totalSteps: number): Promise<MethodState> {
  const storage = indexedDbStorage(method, { database: DATABASE });
  const history = await readHistory(storage, method);
  const summaryText = await storage.readText('summary.json');
  if (summaryText) {
    const summary = JSON.parse(summaryText) as StoredSummary & { status: string };
    if (summary.status === 'completed') {
      return {
        method,
        status: 'completed',
        step: summary.steps,
        totalSteps,
        history,
        ...(summary.best
          ? {
              best: {
                epoch: summary.best.epoch,
                test: accuracies(summary.best.metrics.test?.outputs),
              },
            }
          : {}),
      };
    }
  }
  const last = await storage.checkpoints.load<{ position?: { globalStep: number } }>('last');
  if (last) {
    return {
      method,
      status: 'stopped',
      step: last.state.position?.globalStep ?? 0,
      totalSteps,
      history,
    };
  }
  return { method, status: 'pending', step: 0, totalSteps, history: [] };
}

async function readSession(): Promise<SessionConfig | null> {
  const text = await indexedDbStorage(SESSION_RUN, { database: DATABASE }).readText('session.json');
  return text ? (JSON.parse(text) as SessionConfig) : null;
}

function totalStepsOf(
  method: MethodName,
  config: SessionConfig,
  dataset: StreamingDataset,
): number {
  const modalities = dataset.modalities.map((m) => m.name);
  const o = methodOptions(method, config, modalities);
  const epochs =
    typeof o['epochs'] === 'number'
      ? (o['epochs'] as number)
      : ((o['epochList'] as number[]) ?? []).reduce((a, b) => a + b, 0);
  return epochs * Math.floor((dataset.splitSizes.train ?? 0) / config.batchSize);
}

/** Starts the backend (the stored session's, else the requested one), loads the data, reports. */
async function reportSession(requested: BackendChoice): Promise<void> {
  const config = await readSession();
  await ensureBackend(config?.backend ?? requested);
  const dataset = await ensureDataset();
  if (!config) {
    post({ type: 'session', config: null, methods: [] });
    return;
  }
  const methods = await Promise.all(
    config.methods.map((m) => methodState(m, totalStepsOf(m, config, dataset))),
  );
  post({ type: 'session', config, methods });
}

// ---------------------------------------------------------------------------------------------
// Training

/** Resolves in a new task (a MessageChannel round trip: no timer clamping). */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

let controller: AbortController | null = null;

async function train(config: SessionConfig, resume: boolean): Promise<void> {
  if (controller) throw new Error('Training is already running.');
  controller = new AbortController();
  const signal = controller.signal;
  try {
    await ensureBackend(config.backend);
    const dataset = await ensureDataset();
    if (!resume) {
      for (const m of config.methods) await indexedDbStorage(m, { database: DATABASE }).clear();
      await indexedDbStorage(SESSION_RUN, { database: DATABASE }).writeText(
        'session.json',
        JSON.stringify(config),
      );
    }
    const modalities = dataset.modalities.map((m) => m.name);
    for (const method of config.methods) {
      const totalSteps = totalStepsOf(method, config, dataset);
      const before = await methodState(method, totalSteps);
      if (before.status === 'completed') {
        post({ type: 'method-done', state: before });
        continue;
      }
      const resumedFromStep = before.status === 'stopped' ? before.step : null;
      post({ type: 'method-start', method, resumedFromStep, totalSteps });
      const run = createMethod(method, methodOptions(method, config, modalities), {
        encoders: () =>
          Object.fromEntries(
            dataset.modalities.map((m, i) => [
              m.name,
              denseEncoder(m.shape, config.seed * 10 + i + 1, `enc_${m.name}`),
            ]),
          ),
        numClasses: dataset.classNames.length,
        dataset,
        batchSize: config.batchSize,
        seed: config.seed,
      });
      let step = before.step;
      try {
        const summary = await runTraining({
          ...run.trainOptions(),
          dataset,
          batchSize: config.batchSize,
          evalBatchSize: 128,
          seed: config.seed,
          storage: methodStorage(method),
          checkpoint: { every: 1 },
          resume: resumedFromStep !== null,
          signal,
          progress: 'none',
          callbacks: [
            ...run.callbacks,
            {
              name: 'playground-progress',
              async onBatchEnd(_batch, logs) {
                step++;
                post({
                  type: 'step',
                  method,
                  step,
                  totalSteps,
                  loss: logs?.['loss'] ?? Number.NaN,
                });
                // The loop awaits only promises that are already settled (the data is in
                // memory): yield to the event loop so that a Stop message is handled now.
                await nextTask();
              },
            },
          ],
        });
        if (summary.status === 'aborted') {
          post({
            type: 'stopped',
            method,
            step: summary.steps,
            checkpoint: methodStorage(method).checkpoints.locate('last'),
          });
          return;
        }
        post({ type: 'method-done', state: await methodState(method, totalSteps) });
      } finally {
        run.dispose();
      }
    }
    post({ type: 'done' });
  } finally {
    controller = null;
  }
}

function fail(error: unknown): void {
  if (error instanceof MissingData) {
    post({ type: 'missing-data', message: error.message });
    return;
  }
  post({
    type: 'error',
    message: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'inspect':
      reportSession(message.backend).catch(fail);
      break;
    case 'start':
      train(message.config, false).catch(fail);
      break;
    case 'resume':
      readSession()
        .then((config) => {
          if (!config) throw new Error('There is no stored session to resume.');
          return train(config, true);
        })
        .catch(fail);
      break;
    case 'stop':
      controller?.abort();
      break;
    case 'reset':
      (async () => {
        if (controller) throw new Error('Stop the training before clearing the stored runs.');
        const config = await readSession();
        for (const m of config?.methods ?? [])
          await indexedDbStorage(m, { database: DATABASE }).clear();
        await indexedDbStorage(SESSION_RUN, { database: DATABASE }).clear();
        post({ type: 'session', config: null, methods: [] });
      })().catch(fail);
      break;
  }
};
