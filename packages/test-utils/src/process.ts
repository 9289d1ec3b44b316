import { spawnSync } from 'node:child_process';

/**
 * The pid of a process that has exited (spawned and waited for): a real dead pid, for tests of
 * code that tells the leftovers of killed processes from live ones. (The kernel may reuse it
 * much later; callers check it is dead before relying on it.)
 */
export function exitedPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  const pid = Number(child.stdout);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new Error(`exitedPid: the child printed ${JSON.stringify(child.stdout)}, not its pid.`);
  }
  return pid;
}
