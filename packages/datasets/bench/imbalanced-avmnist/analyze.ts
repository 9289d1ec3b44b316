/**
 * Reads `igm compare --methods joint,unimodal` folders and evaluates the criteria of PROTOCOL.md:
 * (a) joint's weak-modality utilization (linear probe of joint / of the unimodal model), mean over
 * seeds <= 0.8; (b) the unimodal late fusion's mean test accuracy > joint's. Also: the budget rule
 * (validation curves flat over the last 40 % of epochs), how fast each modality is learned alone,
 * and the paired (unimodal - joint) difference with its standard error.
 *
 *   pnpm exec tsx bench/imbalanced-avmnist/analyze.ts <compare dir> [--weak visual] [--json out.json]
 *     [--svg curves.svg]   (validation accuracy curves, mean over seeds)
 *     [--command "<the igm compare command>"]   (recorded in the JSON)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Eval {
  accuracy: number;
  perModality: Record<string, { accuracy: number }>;
}
interface RunRecord {
  method: string;
  seed: number;
  modalities: string[];
  bestOnValidation?: { epoch: number; test: Eval };
  final: { epoch: number; test: Eval };
  secondsPerEpoch: number;
  /** The CLI's linear probe of each modality's encoder (test accuracy), when it ran. */
  probe?: { accuracy: Record<string, number> };
  utilization?: Record<string, number | null>;
}
interface EpochLine {
  method: string;
  seed: number;
  epoch: number;
  validation?: Eval;
  trainLoss: number;
}

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith('--'));
if (!dir) {
  process.stderr.write('usage: analyze.ts <compare dir> [--weak <modality>] [--json <file>]\n');
  process.exit(2);
}
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
  runs: RunRecord[];
};
const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as EpochLine);

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const sd = (xs: readonly number[]) => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};
const pct = (x: number) => (100 * x).toFixed(1);

const runsOf = (method: string) =>
  summary.runs.filter((r) => r.method === method).sort((a, b) => a.seed - b.seed);
const joint = runsOf('joint');
const uni = runsOf('unimodal');
if (joint.length === 0 || uni.length === 0)
  throw new Error(`${dir}: needs joint and unimodal runs`);
const modalities = joint[0]!.modalities;
const testOf = (r: RunRecord) => r.bestOnValidation?.test ?? r.final.test;

// The weak modality: the one joint uses least relative to the unimodal model (or --weak).
const ratio = (m: string) =>
  mean(joint.map((r) => testOf(r).perModality[m]!.accuracy)) /
  mean(uni.map((r) => testOf(r).perModality[m]!.accuracy));
const weak = flag('--weak') ?? [...modalities].sort((a, b) => ratio(a) - ratio(b))[0]!;

const seeds = joint.map((r) => r.seed).filter((s) => uni.some((u) => u.seed === s));
const paired = seeds.map(
  (s) =>
    testOf(uni.find((u) => u.seed === s)!).accuracy -
    testOf(joint.find((j) => j.seed === s)!).accuracy,
);

// Utilization from the CLI's probes, when the records have them.
const utilization = joint
  .map((r) => r.utilization?.[weak])
  .filter((u): u is number => typeof u === 'number');

// Validation curves, mean over seeds, per method and output.
function curve(method: string, output: string): number[] {
  const byEpoch = new Map<number, number[]>();
  for (const l of lines) {
    if (l.method !== method || !l.validation) continue;
    const v =
      output === 'fused' ? l.validation.accuracy : l.validation.perModality[output]?.accuracy;
    if (v === undefined) continue;
    byEpoch.set(l.epoch, [...(byEpoch.get(l.epoch) ?? []), v]);
  }
  const epochs = [...byEpoch.keys()].sort((a, b) => a - b);
  return epochs.map((e) => mean(byEpoch.get(e)!));
}
function trainLoss(method: string): number[] {
  const byEpoch = new Map<number, number[]>();
  for (const l of lines) {
    if (l.method !== method) continue;
    byEpoch.set(l.epoch, [...(byEpoch.get(l.epoch) ?? []), l.trainLoss]);
  }
  return [...byEpoch.keys()].sort((a, b) => a - b).map((e) => mean(byEpoch.get(e)!));
}
/** Budget rule: mean over epochs (0.8E, E] minus mean over (0.6E, 0.8E], in accuracy points. */
function lastGain(c: readonly number[]): number {
  const E = c.length;
  const late = c.slice(Math.floor(0.8 * E));
  const before = c.slice(Math.floor(0.6 * E), Math.floor(0.8 * E));
  return 100 * (mean(late) - mean(before));
}
/** First epoch (0-based) whose validation accuracy reaches 90 % of the last-20 % plateau. */
function epochsTo90(c: readonly number[]): number {
  const plateau = mean(c.slice(Math.floor(0.8 * c.length)));
  const i = c.findIndex((v) => v >= 0.9 * plateau);
  return i < 0 ? c.length : i;
}

const outputs = ['fused', ...modalities];
const curves: Record<string, Record<string, number[]>> = {};
const convergence: Record<string, Record<string, number>> = {};
for (const m of ['joint', 'unimodal']) {
  curves[m] = {};
  convergence[m] = {};
  for (const o of outputs) {
    curves[m][o] = curve(m, o);
    convergence[m][o] = lastGain(curves[m][o]);
  }
}
const converged = Object.values(convergence).every((byOut) =>
  Object.values(byOut).every((g) => g < 1),
);

const accOf = (runs: RunRecord[], o: string) =>
  runs.map((r) => (o === 'fused' ? testOf(r).accuracy : testOf(r).perModality[o]!.accuracy));
type CriterionA = { utilizationMean: number; perSeed: number[]; pass: boolean } | { note: string };
function criterionA(): CriterionA {
  if (utilization.length !== joint.length) return { note: 'no linear-probe utilization' };
  const m = mean(utilization);
  return { utilizationMean: m, perSeed: utilization, pass: m <= 0.8 };
}
const result = {
  dir,
  ...(flag('--command') ? { command: flag('--command') } : {}),
  seeds,
  epochs: curves['joint']!['fused']!.length,
  weak,
  test: Object.fromEntries(
    ['joint', 'unimodal'].map((m) => [
      m,
      Object.fromEntries(
        outputs.map((o) => {
          const xs = accOf(m === 'joint' ? joint : uni, o);
          return [o, { mean: mean(xs), sd: sd(xs), perSeed: xs }];
        }),
      ),
    ]),
  ),
  criterionB: {
    pairedMean: mean(paired),
    pairedSe: sd(paired) / Math.sqrt(paired.length),
    seedsWhereUnimodalWins: paired.filter((d) => d > 0).length,
    pass: mean(accOf(uni, 'fused')) > mean(accOf(joint, 'fused')) && paired.length === seeds.length,
  },
  accuracyRatioWeak: ratio(weak),
  linearProbeWeak: Object.fromEntries(
    (['joint', 'unimodal'] as const).map((m) => [
      m,
      (m === 'joint' ? joint : uni).map((r) => r.probe?.accuracy[weak] ?? null),
    ]),
  ),
  criterionA: criterionA(),
  budget: { lastGainPoints: convergence, converged },
  speedAlone: Object.fromEntries(
    modalities.map((m) => [m, { epochsTo90PercentOfPlateau: epochsTo90(curves['unimodal']![m]!) }]),
  ),
  secondsPerEpoch: {
    joint: mean(joint.map((r) => r.secondsPerEpoch)),
    unimodal: mean(uni.map((r) => r.secondsPerEpoch)),
  },
  curves,
  trainLoss: { joint: trainLoss('joint'), unimodal: trainLoss('unimodal') },
};

const t = result.test;
const row = (m: 'joint' | 'unimodal') =>
  `${m.padEnd(9)} fused ${pct(t[m]!['fused']!.mean)} ± ${pct(t[m]!['fused']!.sd)}  ${modalities
    .map((o) => `${o} ${pct(t[m]![o]!.mean)} ± ${pct(t[m]![o]!.sd)}`)
    .join('  ')}`;
const samples = (c: readonly number[], format: (x: number) => string = pct) => {
  const E = c.length;
  return [0, 1, 2, 4, 9, 19, 39, 79, 119, 159, 199]
    .filter((e) => e < E)
    .concat(E - 1)
    .filter((e, i, a) => a.indexOf(e) === i)
    .map((e) => `${e + 1}:${format(c[e]!)}`)
    .join(' ');
};
process.stdout.write(
  `${[
    `${dir} · seeds ${seeds.join(',')} · ${result.epochs} epochs · weak = ${weak}`,
    row('joint'),
    row('unimodal'),
    `(b) unimodal - joint: ${pct(result.criterionB.pairedMean)} ± ${pct(result.criterionB.pairedSe)} (s.e.), unimodal ahead in ${result.criterionB.seedsWhereUnimodalWins}/${seeds.length} seeds -> ${result.criterionB.pass ? 'PASS' : 'fail'}`,
    `(a) ${'utilizationMean' in result.criterionA ? `utilization ${result.criterionA.utilizationMean.toFixed(3)} -> ${result.criterionA.pass ? 'PASS' : 'fail'}` : 'no probe yet'}; proxy accuracy ratio ${weak} ${result.accuracyRatioWeak.toFixed(3)}`,
    `budget: ${converged ? 'converged' : 'NOT converged'} (last-40% gains, points: ${Object.entries(
      convergence,
    )
      .map(
        ([m, g]) =>
          `${m} ${Object.entries(g)
            .map(([o, v]) => `${o} ${v.toFixed(2)}`)
            .join(' ')}`,
      )
      .join('; ')})`,
    `alone, epochs to 90 % of plateau: ${Object.entries(result.speedAlone)
      .map(([m, v]) => `${m} ${v.epochsTo90PercentOfPlateau + 1}`)
      .join(
        ', ',
      )} · s/epoch joint ${result.secondsPerEpoch.joint.toFixed(2)} unimodal ${result.secondsPerEpoch.unimodal.toFixed(2)}`,
    ...['joint', 'unimodal'].flatMap((m) =>
      outputs.map((o) => `  val ${m}/${o}: ${samples(curves[m]![o]!)}`),
    ),
    ...(['joint', 'unimodal'] as const).map(
      (m) => `  train loss ${m}: ${samples(result.trainLoss[m], (x) => x.toFixed(3))}`,
    ),
  ].join('\n')}\n`,
);
/** A line chart of the validation curves (mean over seeds), self-contained SVG. */
function curvesSvg(): string {
  const W = 680;
  const H = 360;
  const left = 48;
  const right = 190;
  const top = 28;
  const bottom = 40;
  const E = result.epochs;
  const x = (e: number) => left + ((W - left - right) * e) / Math.max(1, E - 1);
  const y = (v: number) => top + (H - top - bottom) * (1 - v);
  const series: Array<[string, number[], string, string]> = [
    ['unimodal fused', curves['unimodal']!['fused']!, '#1b9e77', ''],
    ['joint fused', curves['joint']!['fused']!, '#d95f02', ''],
    ...modalities.flatMap(
      (m, i): Array<[string, number[], string, string]> => [
        [`unimodal ${m}`, curves['unimodal']![m]!, ['#7570b3', '#e7298a'][i % 2]!, '6 3'],
        [`joint ${m} (weight slice)`, curves['joint']![m]!, ['#7570b3', '#e7298a'][i % 2]!, '2 3'],
      ],
    ),
  ];
  const grid = [0, 0.2, 0.4, 0.6, 0.8, 1]
    .map(
      (v) =>
        `<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${100 * v}</text>`,
    )
    .join('');
  const ticks = [0, ...[10, 20, 30, 40, 50, 60, 80, 100, 120, 160, 200].filter((e) => e < E)]
    .map(
      (e) =>
        `<text x="${x(e === 0 ? 0 : e - 1)}" y="${H - bottom + 16}" text-anchor="middle">${e === 0 ? 1 : e}</text>`,
    )
    .join('');
  const lines = series
    .map(([name, c, color, dash], i) => {
      const d = c.map((v, e) => `${e ? 'L' : 'M'}${x(e).toFixed(1)},${y(v).toFixed(1)}`).join('');
      const ly = top + 14 * i;
      return `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"${dash ? ` stroke-dasharray="${dash}"` : ''}/><line x1="${W - right + 8}" x2="${W - right + 30}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="1.6"${dash ? ` stroke-dasharray="${dash}"` : ''}/><text x="${W - right + 34}" y="${ly + 4}">${name}</text>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11" role="img"><title>Validation accuracy per epoch of joint and unimodal, fused and per modality, mean over seeds ${seeds.join(', ')}</title><rect width="${W}" height="${H}" fill="#fff"/><text x="${left}" y="16" font-size="12">Validation accuracy (%), mean over seeds ${seeds.join(', ')}</text>${grid}${ticks}<text x="${(left + W - right) / 2}" y="${H - 8}" text-anchor="middle">epoch</text>${lines}</svg>\n`;
}

const svg = flag('--svg');
if (svg) writeFileSync(svg, curvesSvg());
const out = flag('--json');
if (out) writeFileSync(out, `${JSON.stringify(result, null, 1)}\n`);
