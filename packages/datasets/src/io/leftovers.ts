/**
 * Temporary files and staging folders carry their owner, `<pid>@<host>`, in their name, so a
 * later process can tell the leftovers of a killed process from the work of a live one:
 *
 *   <prefix>-<pid>@<host>-<8 hex>     e.g. .staging-3f2a...-4121@node7-9c1e02ab
 *
 * `removeDeadLeftovers(dir)` deletes only entries whose owner ran on this host and no longer
 * exists (`kill(pid, 0)` fails with ESRCH). Entries of live processes, of other hosts (a cache
 * folder shared over NFS) and anything it cannot parse are never touched. Names written before
 * the host was added (`<prefix>-<pid>-<hex>`) count as this host's.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** Host names are [A-Za-z0-9.-]; anything else is replaced so the name stays parseable. */
function thisHost(): string {
  return hostname().replace(/[^A-Za-z0-9.-]/g, '_');
}

/** `-<pid>@<host>-<8 hex>`: the owner suffix of a temporary name made by this process. */
export function ownerSuffix(): string {
  return `-${process.pid}@${thisHost()}-${randomBytes(4).toString('hex')}`;
}

const OWNED = /-(\d+)(?:@([A-Za-z0-9._-]+))?-[0-9a-f]{8}$/;

/** The owner of a temporary name, or undefined when the name carries none. */
export function ownerOf(name: string): { pid: number; host: string | undefined } | undefined {
  const match = OWNED.exec(name);
  if (!match) return undefined;
  return { pid: Number(match[1]), host: match[2] };
}

/** Whether process `pid` exists on this host (EPERM: it exists but belongs to another user). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Whether `name` carries an owner that ran on this host and is gone (not this process). */
export function isDeadLeftover(name: string): boolean {
  const owner = ownerOf(name);
  if (!owner) return false;
  if (owner.host !== undefined && owner.host !== thisHost()) return false;
  return owner.pid !== process.pid && !processAlive(owner.pid);
}

/** The temporary names this package makes: staging folders, atomic-write temps, write probes. */
export function isTemporaryName(name: string): boolean {
  return name.startsWith('.staging-') || name.startsWith('.write-test-') || name.includes('.tmp-');
}

/**
 * Removes the temporary entries of `dir` (see `isTemporaryName`) that a dead process of this
 * host left behind; returns their names. A missing folder removes nothing.
 */
export async function removeDeadLeftovers(
  dir: string,
  isTemporary: (name: string) => boolean = isTemporaryName,
): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const dead = names.filter((n) => isTemporary(n) && isDeadLeftover(n));
  for (const n of dead) await rm(join(dir, n), { recursive: true, force: true });
  return dead;
}
