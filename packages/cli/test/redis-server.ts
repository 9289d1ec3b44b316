/**
 * A throwaway redis-server for the queue tests: Debian's binary (or $IGM_REDIS_SERVER) on a free
 * loopback port, with a temp dir, no persistence, optionally a password; stopped by `stop()`.
 * A missing redis-server is an error (CI installs it), unless IGM_SKIP_REDIS_TESTS=1 outside CI.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly port: number;
  /** redis://[:password@]127.0.0.1:port/0 */
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export function redisServerBinary(): string | undefined {
  const candidates = [process.env['IGM_REDIS_SERVER'], '/usr/bin/redis-server'].filter(
    (c): c is string => Boolean(c),
  );
  for (const c of candidates) if (existsSync(c)) return c;
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() || undefined : undefined;
}

/** Whether the queue tests run: always on CI; elsewhere unless IGM_SKIP_REDIS_TESTS=1. */
export function redisTestsEnabled(): boolean {
  return Boolean(process.env['CI']) || process.env['IGM_SKIP_REDIS_TESTS'] !== '1';
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

function waitReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      reject(new Error(`redis-server did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += String(d);
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with code ${code}:\n${out}`));
    });
  });
}

/** Starts redis-server on a free 127.0.0.1 port (retried if the port was taken meanwhile). */
export async function startRedis(options: { password?: string } = {}): Promise<RedisServer> {
  const binary = redisServerBinary();
  if (!binary) {
    throw new Error(
      'redis-server is not installed: the queue tests need it (Debian: apt-get install -y redis-server; ' +
        'or set IGM_REDIS_SERVER to its path). Set IGM_SKIP_REDIS_TESTS=1 to skip them outside CI.',
    );
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'igm-redis-'));
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--protected-mode',
      'yes',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--logfile',
      '',
      '--daemonize',
      'no',
      ...(options.password ? ['--requirepass', options.password] : []),
    ];
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await waitReady(child, 10_000);
    } catch (e) {
      lastError = e;
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
    return {
      port,
      pid: child.pid!,
      url: `redis://${auth}127.0.0.1:${port}/0`,
      stop: () =>
        new Promise<void>((resolve) => {
          const done = () => {
            rmSync(dir, { recursive: true, force: true });
            resolve();
          };
          if (child.exitCode !== null || child.signalCode !== null) return done();
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.once('exit', () => {
            clearTimeout(timer);
            done();
          });
          child.kill('SIGTERM');
        }),
    };
  }
  throw lastError;
}
