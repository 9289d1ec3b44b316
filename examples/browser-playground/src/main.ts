/**
 * The playground page: controls, per-method progress and accuracy plots, the results table.
 * Training runs in worker.ts; this file only draws what it reports. The DOM carries the state
 * as data attributes (data-status, data-step) for the headless-browser test.
 */
import { drawAccuracyPlot } from './plot';
import {
  type BackendChoice,
  type BackendInfo,
  type EpochPoint,
  type FromWorker,
  METHODS,
  type MethodName,
  type MethodState,
  type SessionConfig,
  type ToWorker,
} from './protocol';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (message: ToWorker) => worker.postMessage(message);

const ui = {
  backend: $<HTMLSelectElement>('backend'),
  epochs: $<HTMLInputElement>('epochs'),
  batchSize: $<HTMLInputElement>('batch-size'),
  seed: $<HTMLInputElement>('seed'),
  start: $<HTMLButtonElement>('start'),
  stop: $<HTMLButtonElement>('stop'),
  resume: $<HTMLButtonElement>('resume'),
  clear: $<HTMLButtonElement>('clear'),
  status: $<HTMLParagraphElement>('status'),
  methods: $<HTMLElement>('methods'),
  results: $<HTMLTableSectionElement>('results').querySelector('tbody')!,
  log: $<HTMLOListElement>('log'),
  backendInfo: $<HTMLParagraphElement>('backend-info'),
  dataInfo: $<HTMLParagraphElement>('data-info'),
};

interface View {
  state: MethodState;
  card: HTMLElement;
  svg: SVGSVGElement;
  totalEpochs: number;
  drawnHistory?: MethodState['history'];
  drawnStatus?: MethodState['status'];
  drawnBest?: MethodState['best'];
}

const views = new Map<MethodName, View>();
let config: SessionConfig | null = null;
let running = false;

function log(text: string): void {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  ui.log.prepend(li);
}

function setStatus(text: string): void {
  ui.status.textContent = text;
}

function setRunning(on: boolean, canResume = false): void {
  running = on;
  document.body.dataset['running'] = String(on);
  ui.start.disabled = on;
  ui.stop.disabled = !on;
  ui.resume.disabled = on || !canResume;
  ui.clear.disabled = on || config === null;
  for (const input of [ui.backend, ui.epochs, ui.batchSize, ui.seed]) input.disabled = on;
}

const percent = (v: number | undefined) => (v === undefined ? '–' : `${(v * 100).toFixed(1)}`);

function renderView(view: View): void {
  const { state, card } = view;
  card.dataset['status'] = state.status;
  card.dataset['step'] = String(state.step);
  card.dataset['totalSteps'] = String(state.totalSteps);
  const last = state.history.at(-1);
  if (last?.test['fused'] !== undefined) card.dataset['testFused'] = String(last.test['fused']);
  card.querySelector('.state')!.textContent =
    `${state.status} · step ${state.step}/${state.totalSteps}` +
    (last ? ` · epoch ${last.epoch + 1}${last.stage ? ` (${last.stage})` : ''}` : '');
  (card.querySelector('.progress div') as HTMLElement).style.width =
    `${state.totalSteps > 0 ? Math.min(100, (100 * state.step) / state.totalSteps) : 0}%`;
  // Steps arrive many times a second: redraw the plot and the table only when they change.
  if (view.drawnHistory !== state.history) {
    view.drawnHistory = state.history;
    drawAccuracyPlot(view.svg, state.history, { totalEpochs: view.totalEpochs, chance: 0.1 });
  }
  if (view.drawnStatus !== state.status || view.drawnBest !== state.best) {
    view.drawnStatus = state.status;
    view.drawnBest = state.best;
    renderResults();
  }
}

function renderResults(): void {
  ui.results.replaceChildren(
    ...[...views.values()].map(({ state }) => {
      const tr = document.createElement('tr');
      tr.dataset['method'] = state.method;
      const best = state.best;
      const cells = [
        state.method,
        state.status,
        `${state.step}/${state.totalSteps}`,
        best ? String(best.epoch + 1) : '–',
        percent(best?.test['fused']),
        percent(best?.test['audio']),
        percent(best?.test['visual']),
      ];
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c;
        tr.append(td);
      }
      return tr;
    }),
  );
}

function methodEpochs(method: MethodName, c: SessionConfig): number {
  // IGM alternates stages [1, 2] x epochs (audio 1, visual 2 per round: see @igm/baselines budget).
  return method === 'igm' ? 3 * c.epochs : c.epochs;
}

function resetViews(c: SessionConfig, states: readonly MethodState[] = []): void {
  views.clear();
  ui.methods.replaceChildren();
  for (const method of c.methods) {
    const card = document.createElement('article');
    card.className = 'method';
    card.dataset['method'] = method;
    card.innerHTML = `<h3>${method}</h3><div class="state"></div><div class="progress"><div></div></div>`;
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `${method}: test accuracy per epoch`);
    card.append(svg);
    ui.methods.append(card);
    const state = states.find((s) => s.method === method) ?? {
      method,
      status: 'pending' as const,
      step: 0,
      totalSteps: 0,
      history: [],
    };
    const view = { state, card, svg, totalEpochs: methodEpochs(method, c) };
    views.set(method, view);
    renderView(view);
  }
}

function update(method: MethodName, patch: Partial<MethodState>): void {
  const view = views.get(method);
  if (!view) return;
  view.state = { ...view.state, ...patch };
  renderView(view);
}

function describeBackend(info: BackendInfo): string {
  const available = Object.entries(info.available)
    .filter(([, ok]) => ok)
    .map(([name]) => name)
    .join(', ');
  let text = `Running on ${info.backend}`;
  if (info.wasm) {
    const names = (action: string) =>
      info.wasm!.kernels.filter((k) => k.action === action).map((k) => k.kernelName);
    const overrides = names('override');
    const added = names('added');
    text += ` (${info.wasm.build} build, ${info.wasm.threads} thread${info.wasm.threads === 1 ? '' : 's'} on ${info.wasm.cores} logical core${info.wasm.cores === 1 ? '' : 's'}) with @igm/wasm-training's training kernels: ${info.wasm.kernels.length} registered, ${overrides.length} replacing stock kernels (${overrides.join(', ')}) and ${added.length} the backend lacks (${added.join(', ')}); their SIMD module runs its ${info.wasm.nativeKernels} build`;
  }
  text += `. Cross-origin isolated: ${info.crossOriginIsolated ? 'yes' : 'no (no threads)'}. Backends this browser offers: ${available}.`;
  return text;
}

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const m = event.data;
  switch (m.type) {
    case 'backend':
      ui.backendInfo.textContent = describeBackend(m.info);
      ui.backendInfo.dataset['backend'] = m.info.backend;
      if (m.info.wasm) ui.backendInfo.dataset['kernels'] = String(m.info.wasm.kernels.length);
      for (const option of ui.backend.options) {
        option.disabled = !m.info.available[option.value as BackendChoice];
      }
      break;
    case 'data':
      ui.dataInfo.textContent = `AV-MNIST-style subset: ${m.info.recordings} recordings → ${Object.entries(
        m.info.splits,
      )
        .map(([split, n]) => `${split} ${n}`)
        .join(
          ', ',
        )}; audio log-mel [${m.info.audioShape.join(', ')}], images 28 × 28 (PCA 75 % energy removed); fetched and preprocessed in this tab in ${m.info.seconds.toFixed(1)} s.`;
      ui.dataInfo.classList.remove('missing');
      ui.dataInfo.dataset['ready'] = 'true';
      break;
    case 'missing-data':
      ui.dataInfo.textContent = m.message;
      ui.dataInfo.classList.add('missing');
      setStatus('No data: see above.');
      setRunning(false);
      ui.start.disabled = true;
      break;
    case 'session': {
      config = m.config;
      if (config) {
        ui.backend.value = config.backend;
        ui.epochs.value = String(config.epochs);
        ui.batchSize.value = String(config.batchSize);
        ui.seed.value = String(config.seed);
        resetViews(config, m.methods);
        const unfinished = m.methods.some((s) => s.status !== 'completed');
        const stopped = m.methods.find((s) => s.status === 'stopped');
        setRunning(false, unfinished);
        setStatus(
          stopped
            ? `Stored checkpoint: ${stopped.method} at step ${stopped.step}. Resume continues from it.`
            : unfinished
              ? 'A stored session is unfinished: Resume continues it.'
              : 'The stored session is complete.',
        );
        document.body.dataset['stored'] = stopped ? `${stopped.method}@${stopped.step}` : '';
      } else {
        ui.methods.replaceChildren();
        ui.results.replaceChildren();
        setRunning(false);
        setStatus('Ready.');
        document.body.dataset['stored'] = '';
      }
      document.body.dataset['inspected'] = 'true';
      break;
    }
    case 'method-start':
      update(m.method, { status: 'running', totalSteps: m.totalSteps });
      setStatus(`Training ${m.method}…`);
      if (m.resumedFromStep !== null) {
        log(`${m.method}: resumed from the stored checkpoint at step ${m.resumedFromStep}`);
        document.body.dataset['resumedFrom'] = `${m.method}@${m.resumedFromStep}`;
      } else {
        log(`${m.method}: started (${m.totalSteps} steps)`);
      }
      break;
    case 'step': {
      const view = views.get(m.method);
      if (view && view.state.step + 1 !== m.step)
        log(`${m.method}: step ${m.step} follows ${view.state.step}`);
      if (view && !view.card.dataset['firstStep']) view.card.dataset['firstStep'] = String(m.step);
      update(m.method, { status: 'running', step: m.step, totalSteps: m.totalSteps });
      break;
    }
    case 'epoch': {
      const view = views.get(m.point.method);
      if (!view) break;
      const history: EpochPoint[] = [
        ...view.state.history.filter((p) => p.epoch < m.point.epoch),
        m.point,
      ];
      update(m.point.method, { history });
      break;
    }
    case 'method-done':
      update(m.state.method, m.state);
      log(
        `${m.state.method}: completed; test accuracy at the epoch chosen on validation: fused ${percent(m.state.best?.test['fused'])} %`,
      );
      break;
    case 'stopped':
      update(m.method, { status: 'stopped', step: m.step });
      log(`${m.method}: stopped after step ${m.step}; checkpoint in ${m.checkpoint}`);
      setStatus(
        `Stopped: ${m.method} at step ${m.step}. Resume continues from the checkpoint (also after a reload).`,
      );
      document.body.dataset['stored'] = `${m.method}@${m.step}`;
      setRunning(false, true);
      break;
    case 'done':
      setStatus('All methods trained.');
      setRunning(false, false);
      document.body.dataset['done'] = 'true';
      break;
    case 'status':
      setStatus(m.text);
      break;
    case 'error':
      setStatus(`Error: ${m.message.split('\n')[0]}`);
      log(`error: ${m.message}`);
      console.error(m.message);
      setRunning(false, config !== null);
      break;
  }
};

worker.onerror = (event) => {
  setStatus(`The worker failed: ${event.message}`);
  console.error(event.message);
};

ui.start.onclick = () => {
  config = {
    backend: ui.backend.value as BackendChoice,
    epochs: Number(ui.epochs.value),
    batchSize: Number(ui.batchSize.value),
    seed: Number(ui.seed.value),
    methods: [...METHODS],
  };
  delete document.body.dataset['done'];
  resetViews(config);
  setRunning(true);
  send({ type: 'start', config });
};
ui.stop.onclick = () => {
  if (!running) return;
  setStatus('Stopping after the current step…');
  send({ type: 'stop' });
};
ui.resume.onclick = () => {
  if (!config) return;
  setRunning(true);
  send({ type: 'resume' });
};
ui.clear.onclick = () => send({ type: 'reset' });

// The worker runs one backend: choosing another reloads the page with ?backend=<name>.
const requested = new URLSearchParams(location.search).get('backend') ?? 'wasm';
ui.backend.value = ['wasm', 'webgpu', 'webgl', 'cpu'].includes(requested) ? requested : 'wasm';
ui.backend.onchange = () => {
  const url = new URL(location.href);
  url.searchParams.set('backend', ui.backend.value);
  location.assign(url);
};
send({ type: 'inspect', backend: ui.backend.value as BackendChoice });
