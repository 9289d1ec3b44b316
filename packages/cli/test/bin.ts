/**
 * The real, built `igm` (packages/cli/dist/bin.js, built by the global setup build-once.ts) in
 * child processes: what a user runs. `igm()` waits for the exit; `startIgmBin()` returns at once
 * (to send Ctrl-C); `stopBins()` kills what is left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_PACKAGE = dirname(dirname(fileURLToPath(import.meta.url)));
export const REPO = join(CLI_PACKAGE, '..', '..');
export const BIN = join(CLI_PACKAGE, 'dist', 'bin.js');

export interface BinResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
}

export interface BinProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  out(): string;
  err(): string;
  readonly exited: Promise<BinResult>;
  /** Resolves when `pattern` shows in stderr; rejects after `timeoutMs` or on exit. */
  waitForErr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

const live = new Set<ChildProcess>();

interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The command to run instead of `node dist/bin.js` (e.g. pnpm for `pnpm igm`). */
  readonly command?: readonly string[];
  /** Own process group, so that a terminal's Ctrl-C can be imitated (kill(-pid)). */
  readonly detached?: boolean;
}

/** Starts `igm <args>` (the built binary) without waiting. */
export function startIgmBin(args: readonly string[], options: SpawnOptions = {}): BinProcess {
  const [cmd, ...pre] = options.command ?? [process.execPath, BIN];
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  // Plain progress lines (no terminal), as in a log; no wrapper's command name unless given.
  env['CI'] = '1';
  if (!options.env?.['IGM_COMMAND']) delete env['IGM_COMMAND'];
  const child = spawn(cmd!, [...pre, ...args], {
    cwd: options.cwd ?? CLI_PACKAGE,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += String(d);
  });
  child.stderr!.on('data', (d) => {
    err += String(d);
  });
  const exited = new Promise<BinResult>((resolve) =>
    child.on('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal, out, err });
    }),
  );
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    async waitForErr(pattern, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(err);
        if (match) return match;
        if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`no ${pattern} in the stderr of igm ${args.join(' ')}:\n${err}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Runs `igm <args>` (the built binary) to its end. */
export function igm(args: readonly string[], options: SpawnOptions = {}): Promise<BinResult> {
  return startIgmBin(args, options).exited;
}

/** Kills every child still running. */
export async function stopBins(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}
