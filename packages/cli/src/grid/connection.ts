/**
 * Connections to Redis for the queue. `openRedis` fails fast: one connection attempt with a
 * timeout, then a clear error naming the host (never the password) for a refused connection, an
 * unknown host, a wrong or missing password, a server that is not Redis, or a Redis too old for
 * BullMQ. Once connected, the client reconnects by itself if the server goes away later.
 */
import { Redis } from 'ioredis';
import { ioredisOptions, maskSecrets, type RedisTarget } from './redis-url';

export class QueueConnectionError extends Error {
  override name = 'QueueConnectionError';
}

export interface OpenRedisOptions {
  /** How long the first connection may take (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Who connects, for messages ("igm compare", "igm worker"). */
  readonly role: string;
  /**
   * While Redis is away, how many reconnections a command waits before it fails (default null:
   * forever, as BullMQ's workers need; compare uses a small number to notice and say so).
   */
  readonly maxRetriesPerRequest?: number | null;
}

function describeConnectError(
  target: RedisTarget,
  error: Error | undefined,
  timeoutMs: number,
): string {
  const at = `Redis at ${target.address}${target.tls ? ' (TLS)' : ''}`;
  const msg = error?.message ?? '';
  const code = (error as { code?: string } | undefined)?.code ?? '';
  if (/WRONGPASS|invalid password|invalid username-password/i.test(msg)) {
    const from =
      target.passwordFrom === 'IGM_REDIS_PASSWORD' ? 'IGM_REDIS_PASSWORD' : 'the Redis URL';
    return `${at} refused the password from ${from} (WRONGPASS). Check the password (redis://:PASSWORD@host:port).`;
  }
  if (/NOAUTH|authentication required/i.test(msg)) {
    return `${at} requires a password and none was given. Put it in the URL (redis://:PASSWORD@${target.address}) or in IGM_REDIS_PASSWORD.`;
  }
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg)) {
    return `Cannot reach ${at}: connection refused. Is redis-server running there and listening on that port?`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /ENOTFOUND|EAI_AGAIN/.test(msg)) {
    return `Cannot reach ${at}: the host name "${target.host}" does not resolve.`;
  }
  if (/Unknown RESP type|Protocol error/i.test(msg)) {
    return `${at} does not speak the Redis protocol (is it another service${target.tls ? '' : ', or a TLS-only Redis that needs rediss://'}?).`;
  }
  if (/ETIMEDOUT|timed? ?out/i.test(msg) || !error) {
    return `Cannot reach ${at}: no answer within ${(timeoutMs / 1000).toFixed(0)} s (firewall, wrong host, or TLS mismatch?).`;
  }
  return `Cannot use ${at}: ${maskSecrets(msg)}`;
}

/** Redis's version from INFO server, e.g. [7, 0, 15]. */
function redisVersion(info: string): number[] | undefined {
  const match = /redis_version:(\d+)\.(\d+)\.(\d+)/.exec(info);
  return match ? match.slice(1).map(Number) : undefined;
}

/**
 * Connects to `target` and checks it answers as a Redis BullMQ can use. Returns a client for
 * BullMQ that reconnects by itself (capped back-off) after the first connection.
 */
export async function openRedis(target: RedisTarget, options: OpenRedisOptions): Promise<Redis> {
  const timeoutMs = options.timeoutMs ?? 5000;
  let lastError: Error | undefined;
  let connected = false;
  const client = new Redis(
    ioredisOptions(target, {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      maxRetriesPerRequest: options.maxRetriesPerRequest ?? null,
      connectionName: options.role.replace(/\s+/g, '-'),
      // The first attempt decides (fail fast); afterwards, reconnect with a capped back-off.
      retryStrategy: (times) => (connected ? Math.min(200 * times, 2000) : null),
    }),
  );
  client.on('error', (e: Error) => {
    lastError = e;
  });
  const timer = new Promise<never>((_, reject) => {
    const t = setTimeout(() => reject(new Error('timed out')), timeoutMs + 500);
    t.unref();
  });
  try {
    await Promise.race([client.connect(), timer]);
    const info = (await Promise.race([client.info('server'), timer])) as string;
    connected = true;
    const version = redisVersion(info);
    if (version && version[0]! < 5) {
      client.disconnect();
      throw new QueueConnectionError(
        `Redis at ${target.address} is version ${version.join('.')}; the queue (BullMQ) needs Redis 5 or newer (6.2+ recommended).`,
      );
    }
    return client;
  } catch (e) {
    if (e instanceof QueueConnectionError) throw e;
    client.disconnect();
    const cause = /Connection is closed|timed out/.test((e as Error).message)
      ? (lastError ?? (/timed out/.test((e as Error).message) ? undefined : (e as Error)))
      : (e as Error);
    throw new QueueConnectionError(
      `${options.role}: ${describeConnectError(target, cause, timeoutMs)}`,
    );
  }
}

/** Closes a client, waiting at most `ms` for QUIT. */
export async function closeRedis(client: Redis, ms = 2000): Promise<void> {
  await Promise.race([
    client.quit().catch(() => undefined),
    new Promise((r) => setTimeout(r, ms).unref()),
  ]);
  client.disconnect();
}
