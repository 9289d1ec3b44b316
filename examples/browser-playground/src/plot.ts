/**
 * A small SVG line chart: test accuracy per epoch, the fused prediction and each modality, with
 * chance level. No dependency; redrawn whole on every new point.
 */
import type { EpochPoint } from './protocol';

const SVG = 'http://www.w3.org/2000/svg';
const COLORS: Record<string, string> = { fused: '#1f4e9c', audio: '#c0392b', visual: '#27864a' };

function el<K extends keyof SVGElementTagNameMap>(
  name: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export interface PlotOptions {
  readonly totalEpochs: number;
  readonly chance: number;
}

/** Draws `points` (one method) into `svg`: x = epoch, y = test accuracy in [0, 1]. */
export function drawAccuracyPlot(
  svg: SVGSVGElement,
  points: readonly EpochPoint[],
  o: PlotOptions,
) {
  const width = 420;
  const height = 220;
  const m = { left: 40, right: 78, top: 10, bottom: 30 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const epochs = Math.max(o.totalEpochs, points.length, 1);
  const x = (epoch: number) => m.left + (epochs === 1 ? w / 2 : (epoch / (epochs - 1)) * w);
  const y = (acc: number) => m.top + (1 - acc) * h;
  // Axes and grid.
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(el('line', { x1: m.left, x2: m.left + w, y1: y(t), y2: y(t), class: 'grid' }));
    svg.append(
      el('text', { x: m.left - 6, y: y(t) + 4, 'text-anchor': 'end', class: 'tick' }, `${t * 100}`),
    );
  }
  const step = Math.max(1, Math.ceil(epochs / 8));
  for (let e = 0; e < epochs; e += step) {
    svg.append(
      el(
        'text',
        { x: x(e), y: m.top + h + 16, 'text-anchor': 'middle', class: 'tick' },
        `${e + 1}`,
      ),
    );
  }
  svg.append(
    el(
      'text',
      { x: m.left + w / 2, y: height - 2, 'text-anchor': 'middle', class: 'axis' },
      'epoch',
    ),
  );
  svg.append(
    el('line', { x1: m.left, x2: m.left + w, y1: y(o.chance), y2: y(o.chance), class: 'chance' }),
  );
  // One line per output.
  const outputs = ['fused', ...new Set(points.flatMap((p) => Object.keys(p.test)).values())].filter(
    (k, i, all) => all.indexOf(k) === i && points.some((p) => p.test[k] !== undefined),
  );
  outputs.forEach((name, i) => {
    const pts = points.filter((p) => p.test[name] !== undefined);
    const color = COLORS[name] ?? '#777';
    const d = pts
      .map(
        (p, k) => `${k === 0 ? 'M' : 'L'}${x(p.epoch).toFixed(1)},${y(p.test[name]!).toFixed(1)}`,
      )
      .join('');
    svg.append(
      el('path', {
        d,
        fill: 'none',
        stroke: color,
        'stroke-width': name === 'fused' ? 2.5 : 1.5,
        'stroke-dasharray': name === 'fused' ? '' : '5 3',
        'data-output': name,
      }),
    );
    for (const p of pts)
      svg.append(el('circle', { cx: x(p.epoch), cy: y(p.test[name]!), r: 2.5, fill: color }));
    const lastAcc = pts.at(-1)?.test[name];
    svg.append(
      el(
        'text',
        { x: m.left + w + 8, y: m.top + 14 + i * 16, fill: color, class: 'legend' },
        `${name}${lastAcc !== undefined ? ` ${(lastAcc * 100).toFixed(0)}%` : ''}`,
      ),
    );
  });
  svg.append(el('text', { x: m.left + w + 8, y: y(o.chance) + 4, class: 'tick' }, 'chance'));
}
