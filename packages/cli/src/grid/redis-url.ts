/**
 * Redis URLs for `--queue` and `igm worker`, and the one place secrets are masked.
 *
 *   redis://[[user]:password@]host[:port][/db]     plain TCP (port 6379, db 0 by default)
 *   rediss://...                                   the same over TLS
 *
 * The password comes only from the URL (on the command line, or in IGM_REDIS_URL) or, when the
 * URL has none, from the IGM_REDIS_PASSWORD environment variable. Every URL or message this
 * package prints or saves goes through `maskSecrets`, which hides URL passwords and every
 * password seen by `parseRedisUrl`.
 */
import type { RedisOptions } from 'ioredis';

export class QueueUrlError extends Error {
  override name = 'QueueUrlError';
}

/** A parsed Redis URL: where to connect, and how to show it. */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
  /** Where the password came from, for messages ('url', 'IGM_REDIS_PASSWORD' or none). */
  readonly passwordFrom?: 'url' | 'IGM_REDIS_PASSWORD';
  /** The URL with the password replaced by ***: safe to print and save. */
  readonly display: string;
  /** host:port, for error messages. */
  readonly address: string;
}

const secrets = new Set<string>();

/** Remembers a secret so that `maskSecrets` hides it wherever it appears. */
export function registerSecret(secret: string | undefined): void {
  // One- or two-character "passwords" would mask unrelated text; they are not worth hiding.
  if (secret && secret.length >= 3) secrets.add(secret);
}

const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/)([^:@/\s]*):([^@\s]*)@/gi;

/**
 * Masks secrets in any text: the password of every URL (redis://, rediss://, ...) becomes ***, and
 * so does every password registered by `parseRedisUrl` (also URL-encoded). Used for every URL
 * and message the CLI prints or saves (config.json, logs, reports, errors).
 */
export function maskSecrets(text: string): string {
  let out = text.replace(URL_PASSWORD, (_m, scheme: string, user: string, pw: string) =>
    pw ? `${scheme}${user}:***@` : `${scheme}${user}:@`,
  );
  for (const s of secrets) {
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('***');
  }
  return out;
}

/** The environment variables the queue reads. */
export const REDIS_URL_ENV = 'IGM_REDIS_URL';
export const REDIS_PASSWORD_ENV = 'IGM_REDIS_PASSWORD';

const EXPECTED = 'expected redis://[[user]:password@]host[:port][/db] or rediss://... (TLS)';

/** Parses a Redis URL (see the module doc); errors name the problem, never the password. */
export function parseRedisUrl(raw: string, env: NodeJS.ProcessEnv = process.env): RedisTarget {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new QueueUrlError(`"${maskSecrets(raw)}" is not a URL; ${EXPECTED}.`);
  }
  const shown = () => maskSecrets(raw);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new QueueUrlError(
      `"${shown()}" has the scheme "${url.protocol.replace(/:$/, '')}"; ${EXPECTED}.`,
    );
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new QueueUrlError(`"${shown()}" names no host; ${EXPECTED}.`);
  const port = url.port ? Number(url.port) : 6379;
  const dbText = url.pathname.replace(/^\/+/, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!/^\d*$/.test(dbText) || !Number.isInteger(db) || db < 0) {
    throw new QueueUrlError(
      `"${shown()}" has the database "${dbText}"; expected a number like /0 after the port.`,
    );
  }
  if (url.search || url.hash) {
    throw new QueueUrlError(
      `"${shown()}" has query parameters or a fragment, which igm does not read; ${EXPECTED}.`,
    );
  }
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const fromUrl = url.password ? decodeURIComponent(url.password) : undefined;
  const fromEnv = fromUrl === undefined ? env[REDIS_PASSWORD_ENV] || undefined : undefined;
  const password = fromUrl ?? fromEnv;
  registerSecret(password);
  const tls = url.protocol === 'rediss:';
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const userPart = username || password ? `${username ?? ''}${password ? ':***' : ''}@` : '';
  return {
    host,
    port,
    db,
    tls,
    ...(username ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(fromUrl !== undefined
      ? { passwordFrom: 'url' as const }
      : fromEnv !== undefined
        ? { passwordFrom: REDIS_PASSWORD_ENV }
        : {}),
    display: `${url.protocol}//${userPart}${address}/${db}`,
    address,
  };
}

/**
 * The URL to use: the flag's value, or IGM_REDIS_URL when the flag is given without one (or,
 * for `igm worker`, not at all). `what` names the flag for the error.
 */
export function resolveQueueUrl(
  flag: string | boolean | undefined,
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (typeof flag === 'string' && flag.trim()) return flag.trim();
  const fromEnv = env[REDIS_URL_ENV];
  if (fromEnv?.trim()) return fromEnv.trim();
  throw new QueueUrlError(
    `${what} needs a Redis URL: pass it (${what} redis://host:6379) or set ${REDIS_URL_ENV}. ` +
      `Put the password in the URL (redis://:PASSWORD@host:6379) or in ${REDIS_PASSWORD_ENV}.`,
  );
}

/** ioredis options for a target (TLS with the host name checked for rediss://). */
export function ioredisOptions(target: RedisTarget, extra: RedisOptions = {}): RedisOptions {
  return {
    host: target.host,
    port: target.port,
    db: target.db,
    ...(target.username ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls ? { tls: { servername: target.host } } : {}),
    ...extra,
  };
}
