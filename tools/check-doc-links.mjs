#!/usr/bin/env node
// Checks that every pointer to documentation in the repository can be followed (run by
// `pnpm lint`):
//
//   1. every `docs/<path>[#anchor]` named in a file of the repository (doc comments, READMEs,
//      changesets, presets, test names, reference scripts) is a file or folder under docs/, and
//      its #anchor exists in that file;
//   2. every relative link of a Markdown file, `[text](path#anchor)` or `[label]: path`, names a
//      file of the repository and, with #anchor, an anchor of it;
//   3. nothing points to documents that are not part of the repository: the project's former
//      specification files (their names are in SPEC_FILES), or the `shared` folder beside the
//      project root, except the FSDD recordings fallback of the scripts listed in ALLOWED_SHARED.
//      (Those names are assembled from parts below, so that a plain text search for them finds
//      only the files that really use them.)
//
// An anchor is an explicit `<a id="...">` (or `name=`/`id=` attribute) or the slug GitHub gives
// a heading. Files are those git lists (tracked, plus untracked files that are not ignored).
//
// Usage: node tools/check-doc-links.mjs [--list]
//   --list  also print every reference that resolves.
// Exit code 0 when every reference resolves, 1 otherwise (one line per broken reference,
// `file:line: message`).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';

const root = normalize(join(dirname(new URL(import.meta.url).pathname), '..'));
const list = process.argv.includes('--list');

const SKIP = [
  /^pnpm-lock\.yaml$/,
  /(^|\/)fixtures\//,
  /(^|\/)dist\//,
  /\.(png|jpe?g|gif|wav|npy|bin|wasm|ico|pdf)$/i,
];
const MAX_BYTES = 2_000_000;
// Names of the specification documents the project was written from; they live outside the
// repository, so no file may send a reader to them.
const SPEC_FILES = ['DESIGN', 'ALGORITHMS', 'ALGORITHMS-more', 'DATASETS', 'STYLE'];
const SPEC_RE = new RegExp(
  `(?<![\\w/.-])(?:(?:${SPEC_FILES.join('|')})\\.md|ALGORITHMS(?:-more)? \\d)`,
  'g',
);
// The `shared` folder beside the project root is allowed only as the environment fallback for
// the FSDD recordings in these scripts (a path on the project's machines, not a document).
const FSDD_FALLBACK = ['..', 'shared', 'data', 'fsdd', 'recordings'].join('/');
const ALLOWED_SHARED = new Map([
  ['.ci/run', FSDD_FALLBACK],
  ['scripts/demo.sh', FSDD_FALLBACK],
]);
const SHARED_RE = /(?<![\w.-])(?:\.\.\/)+shared(?:\/[\w./-]*)?|\/shared\/docs\b/g;
const DOCS_RE = /(?<![\w./-])((?:\.\.?\/)*docs\/[\w./-]*)(#[\w-]+)?/g;
const MD_LINK_RE =
  /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm;

const files = execFileSync(
  'git',
  ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
  {
    cwd: root,
    encoding: 'utf8',
  },
)
  .split('\0')
  .filter(Boolean);
const fileSet = new Set(files);
const dirSet = new Set();
for (const f of files) {
  for (let d = dirname(f); d !== '.'; d = dirname(d)) dirSet.add(d);
}

const texts = new Map();
function textOf(file) {
  if (!texts.has(file)) {
    let text = null;
    try {
      const buf = readFileSync(join(root, file));
      if (buf.length <= MAX_BYTES && !buf.includes(0)) text = buf.toString('utf8');
    } catch {
      // deleted in the work tree but still in the index: nothing to read
    }
    texts.set(file, text);
  }
  return texts.get(file);
}

/** GitHub's heading slug: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

const anchorCache = new Map();
function anchorsOf(file) {
  if (anchorCache.has(file)) return anchorCache.get(file);
  const anchors = new Set();
  const text = textOf(file) ?? '';
  let fenced = false;
  const seen = new Map();
  for (const line of text.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    for (const m of line.matchAll(/\b(?:id|name)\s*=\s*["']([^"']+)["']/g)) anchors.add(m[1]);
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const base = slug(h[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
  }
  anchorCache.set(file, anchors);
  return anchors;
}

/** Resolves `target` (a path, maybe with #anchor) to an error message, or null when it exists. */
function check(target, anchor) {
  if (target === '..' || target.startsWith('../') || isAbsolute(target)) {
    return 'points outside the repository';
  }
  const path = target.replace(/\/$/, '');
  const isFile = fileSet.has(path);
  if (!isFile && path !== '' && !dirSet.has(path)) return 'no such file or folder';
  if (!anchor) return null;
  if (!isFile) return `#${anchor} on a folder`;
  if (!path.endsWith('.md')) return `#${anchor} on a file that is not Markdown`;
  if (!anchorsOf(path).has(anchor)) return `no anchor #${anchor} in ${path}`;
  return null;
}

const errors = [];
const reported = new Set();
const resolved = [];
/** Records a broken reference once per (file, line, target), whichever check finds it first. */
function fail(file, line, target, message) {
  const key = `${file}:${line}:${target}`;
  if (reported.has(key)) return;
  reported.add(key);
  errors.push(`${file}:${line}: ${message}`);
}
const lineOf = (text, index) => text.slice(0, index).split('\n').length;

for (const file of files) {
  if (SKIP.some((re) => re.test(file))) continue;
  if (file === 'tools/check-doc-links.mjs') continue; // names what it forbids
  const text = textOf(file);
  if (text === null) continue;
  const here = dirname(file);

  // 1. docs/ paths named anywhere.
  for (const m of text.matchAll(DOCS_RE)) {
    let [, path, hash] = m;
    if (!hash) path = path.replace(/\.+$/, '');
    const anchor = hash?.slice(1);
    const target = path.startsWith('.') ? join(here, path) : path;
    const problem = check(target, anchor);
    const line = lineOf(text, m.index);
    if (problem) fail(file, line, target, `${path}${hash ?? ''}: ${problem}`);
    else resolved.push(`${file}:${line}: ${target}${hash ?? ''}`);
  }

  // 2. relative Markdown links.
  if (file.endsWith('.md')) {
    let fenced = false;
    let lineNo = 0;
    for (const line of text.split('\n')) {
      lineNo += 1;
      if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
      if (fenced) continue;
      const plain = line.replace(/`[^`]*`/g, (c) => ' '.repeat(c.length));
      for (const m of plain.matchAll(MD_LINK_RE)) {
        const link = m[1] ?? m[2];
        if (/^[a-z][\w+.-]*:/i.test(link)) continue; // https:, mailto:, ...
        const [path, anchor] = link.split('#', 2);
        let decoded = path;
        try {
          decoded = decodeURI(path);
        } catch {
          // a malformed %-escape: check the path as written
        }
        const target = path === '' ? file : join(here, decoded);
        const problem = check(target, anchor);
        if (problem) fail(file, lineNo, target, `link ${link}: ${problem}`);
        else resolved.push(`${file}:${lineNo}: ${target}${anchor ? `#${anchor}` : ''}`);
      }
    }
  }

  // 3. documents outside the repository.
  for (const m of text.matchAll(SPEC_RE)) {
    errors.push(
      `${file}:${lineOf(text, m.index)}: "${m[0]}" is not part of the repository; point to docs/ instead`,
    );
  }
  for (const m of text.matchAll(SHARED_RE)) {
    if (ALLOWED_SHARED.get(file) === m[0]) continue;
    errors.push(
      `${file}:${lineOf(text, m.index)}: "${m[0]}" is outside the repository; point to docs/ instead`,
    );
  }
}

if (list) for (const r of resolved) console.log(r);
for (const e of errors) console.error(e);
console.log(
  `check-doc-links: ${resolved.length} references resolve, ${errors.length} broken (${files.length} files)`,
);
process.exitCode = errors.length ? 1 : 0;
