/**
 * What the benches record about the machine while they time a command: how busy it was (the whole
 * machine's idle CPU fraction from /proc/stat, the load average), and the CPU seconds of a timed
 * process and the children it waited for (GNU time). Linux; elsewhere the figures are absent.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

/** Busy and total CPU ticks of the whole machine (Linux /proc/stat). */
export function cpuTicks(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
    const ticks = fields.map(Number);
    const idle = ticks[3]! + (ticks[4] ?? 0);
    const total = ticks.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Fraction of the machine's CPU time that was idle between two `cpuTicks()` readings. */
export function idleBetween(
  before: ReturnType<typeof cpuTicks>,
  after: ReturnType<typeof cpuTicks>,
): number | undefined {
  if (!before || !after) return undefined;
  const total = after.total - before.total;
  return total > 0 ? 1 - (after.busy - before.busy) / total : undefined;
}

/** "2 cores (model)". */
export function machineLabel(): string {
  return `${cpus().length} cores (${cpus()[0]?.model ?? '?'})`;
}

/** GNU time, to read the CPU seconds of a process and the children it waited for. */
const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const CPU_LINE = /^IGM_BENCH_CPU ([\d.]+) ([\d.]+)$/m;

export interface TimedProcess {
  /** Exit code (null: killed by a signal). */
  readonly code: number | null;
  /** Wall seconds from spawn to exit. */
  readonly seconds: number;
  /** User + system CPU seconds of the process and its waited-for children (GNU time). */
  readonly cpuSeconds?: number;
  /** Fraction of the whole machine idle meanwhile. */
  readonly idle?: number;
  /** 1-minute load average at the start, at the end, and its mean over samples every 5 s. */
  readonly loadBefore: number;
  readonly loadAfter: number;
  readonly loadMean: number;
  /** stdout and stderr, interleaved. */
  readonly output: string;
}

/** Runs `command args` to its end and measures it (see TimedProcess). */
export function timeProcess(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; onOutput?: (text: string) => void } = {},
): Promise<TimedProcess> {
  const wrapped = GNU_TIME
    ? [GNU_TIME, '-f', 'IGM_BENCH_CPU %U %S', command, ...args]
    : [command, ...args];
  const loadBefore = loadavg()[0]!;
  const ticks = cpuTicks();
  const started = performance.now();
  const loads = [loadBefore];
  const sampler = setInterval(() => loads.push(loadavg()[0]!), 5000);
  const child = spawn(wrapped[0]!, wrapped.slice(1), {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const take = (d: Buffer) => {
    const s = String(d);
    text += s;
    options.onOutput?.(s);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const stop = () => child.kill('SIGINT');
  process.once('SIGINT', stop);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      process.removeListener('SIGINT', stop);
      loads.push(loadavg()[0]!);
      const seconds = (performance.now() - started) / 1000;
      const cpu = CPU_LINE.exec(text);
      const idle = idleBetween(ticks, cpuTicks());
      resolve({
        code,
        seconds,
        ...(cpu ? { cpuSeconds: Number(cpu[1]) + Number(cpu[2]) } : {}),
        ...(idle !== undefined ? { idle } : {}),
        loadBefore,
        loadAfter: loads[loads.length - 1]!,
        loadMean: loads.reduce((a, b) => a + b, 0) / loads.length,
        output: text.replace(CPU_LINE, ''),
      });
    });
  });
}
