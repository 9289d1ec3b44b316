#!/usr/bin/env node
// Gathers every package's bench/results/*.json into one bench/summary.json and
// bench/summary.md (run by `pnpm bench` after the package benchmarks).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

/**
 * When a result file was measured: the `date` the bench wrote into it, else the time of the last
 * commit that changed it (a fresh clone's file times are its checkout time), else, for a file
 * not committed yet, its modification time.
 */
function measuredAt(path, json) {
  if (typeof json.date === 'string') return { at: json.date, source: 'recorded by the bench' };
  try {
    const committed = execFileSync('git', ['log', '-1', '--format=%cI', '--', path], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const changed = execFileSync('git', ['status', '--porcelain', '--', path], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (committed && !changed) return { at: committed, source: 'committed' };
  } catch {
    // not a git checkout: fall through to the file time
  }
  return { at: statSync(path).mtime.toISOString(), source: 'file time, not committed' };
}
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
    let when = { at: '?', source: 'unreadable' };
    try {
      const json = JSON.parse(readFileSync(path, 'utf8'));
      when = measuredAt(path, json);
      results[key] = { measuredAt: when.at, ...json };
    } catch (e) {
      results[key] = { error: `unreadable: ${e.message}` };
    }
    lines.push(
      `## ${key}`,
      '',
      `File: packages/${pkg}/bench/results/${f} (measured ${when.at}; ${when.source})`,
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
