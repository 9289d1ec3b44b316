#!/usr/bin/env node
// Gathers every package's bench/results/*.json into one bench/summary.json and
// bench/summary.md (run by `pnpm bench` after the package benchmarks).
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const results = {};
const lines = ['# Benchmark summary', '', `Collected ${new Date().toISOString()}.`, ''];
for (const pkg of readdirSync(join(root, 'packages')).sort()) {
  const dir = join(root, 'packages', pkg, 'bench', 'results');
  let files = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    continue;
  }
  for (const f of files.sort()) {
    const path = join(dir, f);
    const key = `${pkg}/${f.replace(/\.json$/, '')}`;
    try {
      results[key] = {
        measuredAt: statSync(path).mtime.toISOString(),
        ...JSON.parse(readFileSync(path, 'utf8')),
      };
    } catch (e) {
      results[key] = { error: `unreadable: ${e.message}` };
    }
    lines.push(
      `## ${key}`,
      '',
      `File: packages/${pkg}/bench/results/${f} (measured ${results[key].measuredAt ?? '?'})`,
      '',
    );
    const flat = [];
    const walk = (v, prefix) => {
      if (flat.length >= 40) return;
      if (typeof v === 'number')
        flat.push([prefix, Number.isInteger(v) ? String(v) : v.toPrecision(4)]);
      else if (typeof v === 'string' || typeof v === 'boolean') flat.push([prefix, String(v)]);
      else if (v && typeof v === 'object' && !Array.isArray(v))
        for (const [k, x] of Object.entries(v)) walk(x, prefix ? `${prefix}.${k}` : k);
    };
    walk(results[key], '');
    lines.push(
      '| metric | value |',
      '| --- | --- |',
      ...flat.filter(([k]) => k !== 'measuredAt').map(([k, v]) => `| ${k} | ${v} |`),
      '',
    );
  }
}
mkdirSync(join(root, 'bench'), { recursive: true });
writeFileSync(join(root, 'bench', 'summary.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(root, 'bench', 'summary.md'), `${lines.join('\n')}\n`);
console.log(
  `bench summary: ${Object.keys(results).length} result files -> bench/summary.json, bench/summary.md`,
);
