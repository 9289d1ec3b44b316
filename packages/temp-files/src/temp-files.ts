/**
 * Temporary files and staging folders carry their owner, `<pid>@<host>`, in their name, so a
 * later process can tell the leftovers of a killed process from the work of a live one:
 *
 *   <prefix>-<pid>@<host>-<8 hex>     e.g. .staging-3f2a...-4121@node7-9c1e02ab
 *
 * `removeDeadLeftovers(dir, isTemporary)` deletes only the temporary entries whose owner ran on
 * this host and no longer exists (`kill(pid, 0)` fails with ESRCH). Entries of live processes,
 * of other hosts (a folder shared over NFS) and anything it cannot parse are never touched.
 * Names written before the host was added (`<prefix>-<pid>-<hex>`) count as this host's.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** The process that made a temporary name; `host` is undefined in names without one. */
export interface TempOwner {
  readonly pid: number;
  readonly host: string | undefined;
}

/** This host's name as it appears in temporary names: [A-Za-z0-9.-], anything else `_`. */
export function thisHost(): string {
  return hostname().replace(/[^A-Za-z0-9.-]/g, '_');
}

/** `-<pid>@<host>-<8 hex>`: the owner suffix of a temporary name made by this process. */
export function ownerSuffix(): string {
  return `-${process.pid}@${thisHost()}-${randomBytes(4).toString('hex')}`;
}

const OWNED = /-(\d+)(?:@([A-Za-z0-9._-]+))?-[0-9a-f]{8}$/;

/** The owner of a name ending in an {@link ownerSuffix}, or undefined when it carries none. */
export function ownerOf(name: string): TempOwner | undefined {
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

/**
 * Whether `owner` ran on this host (or names no host) and no longer exists. This process is
 * never dead; an owner on another host is never judged (its pids mean nothing here).
 */
export function isDeadOwner(owner: TempOwner): boolean {
  if (owner.host !== undefined && owner.host !== thisHost()) return false;
  return owner.pid !== process.pid && !processAlive(owner.pid);
}

/** Whether `name` carries an {@link ownerSuffix} whose owner is dead (see {@link isDeadOwner}). */
export function isDeadLeftover(name: string): boolean {
  const owner = ownerOf(name);
  return owner !== undefined && isDeadOwner(owner);
}

/**
 * Removes the entries of `dir` that `isTemporary` accepts and whose owner is dead; returns
 * their names. `owner` reads the owner from a name (default {@link ownerOf}: an
 * {@link ownerSuffix} at the end); a name it cannot read is kept. A missing folder removes
 * nothing.
 */
export async function removeDeadLeftovers(
  dir: string,
  isTemporary: (name: string) => boolean,
  owner: (name: string) => TempOwner | undefined = ownerOf,
): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const dead = names.filter((n) => {
    if (!isTemporary(n)) return false;
    const o = owner(n);
    return o !== undefined && isDeadOwner(o);
  });
  for (const n of dead) await rm(join(dir, n), { recursive: true, force: true });
  return dead;
}
