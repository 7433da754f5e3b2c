import { readFileSync } from 'node:fs';
import type { BindingsLimits } from '../interfaces/bindings-module-options.interface.js';

/** What `join` of a channel override may open: any user with a valid token may join. */
export type JoinRule = 'anyone';

/** Settings of the channels whose name matches a pattern. */
export interface ChannelOverride {
  history?: number;
  presence?: boolean;
  join?: JoinRule;
}

/** The standalone server's configuration (`bindings.json`), every default filled in. */
export interface StandaloneConfig {
  port: number;
  host: string;
  /** Secrets of tokens and backend calls; the first signs, any verifies (rotation). */
  secrets: string[];
  channels: { history: number; presence: boolean; overrides: Array<[pattern: string, override: ChannelOverride]> };
  adapter?: { redis: string; keyPrefix?: string };
  limits: BindingsLimits;
  /** Allowed browser origins; undefined allows any. */
  origins?: string[];
  admin: { users: string[] };
}

/** A configuration that cannot work; the message names the key and where it came from. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    problem: string,
    source?: string,
  ) {
    super(`${key}${source ? ` (${source})` : ''} ${problem}`);
    this.name = 'ConfigError';
  }
}

/** Every key, with where else it can come from and what it means: the `--help` text and the README's table. */
export const CONFIG_KEYS: ReadonlyArray<{ key: string; env?: string; flag?: string; text: string }> = [
  { key: 'port', env: 'BINDINGS_PORT', flag: '--port', text: 'TCP port to listen on (default 8080).' },
  { key: 'host', env: 'BINDINGS_HOST', flag: '--host', text: 'Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface, as in a container).' },
  {
    key: 'secret',
    env: 'BINDINGS_SECRET',
    text: 'Shared with the backend: signs connect tokens and backend calls. Required, at least 16 characters. A list during a rotation (comma-separated in the environment): any of them verifies.',
  },
  { key: 'channels.history', text: 'Messages kept per channel for channel.history (default 100; 0 keeps none).' },
  { key: 'channels.presence', text: 'Whether members see who is there and their states (default true).' },
  {
    key: 'channels.overrides',
    text: 'Per-channel settings by name pattern, * matching any characters: {"room:*": {"history": 0, "presence": false, "join": "anyone"}}. The first pattern that matches applies. join "anyone": any user with a valid token may join, without the token naming the channel.',
  },
  {
    key: 'adapter.redis',
    env: 'REDIS_URL',
    text: 'redis://host:port: several server processes share channels, presence and replay protection (needs the ioredis package).',
  },
  { key: 'adapter.keyPrefix', text: 'Prefix of every Redis key (default "nb:").' },
  {
    key: 'limits',
    text: 'Bounds of what one client may do (framesPerSecond, connectionsPerUser, maxPayload, presenceBytesPerUser...; see BindingsLimits). Every one has a safe default.',
  },
  {
    key: 'origins',
    env: 'BINDINGS_ORIGINS',
    text: 'Origins of the pages that may connect (comma-separated in the environment); a browser from any other origin is refused with 403. Default: any.',
  },
  {
    key: 'admin.users',
    env: 'BINDINGS_ADMIN_USERS',
    text: 'Users (as their tokens name them) who may open /admin (comma-separated in the environment). Default: nobody.',
  },
];

/** The environment variables holding a whole object, as JSON. */
const JSON_ENV: Record<string, string> = { channels: 'BINDINGS_CHANNELS', adapter: 'BINDINGS_ADAPTER', limits: 'BINDINGS_LIMITS', admin: 'BINDINGS_ADMIN' };

const LIMIT_KEYS: ReadonlyArray<keyof BindingsLimits> = [
  'maxPayload',
  'filterDepth',
  'inValues',
  'stringLength',
  'subscriptionsPerSocket',
  'connectionsPerUser',
  'framesPerSecond',
  'burst',
  'sendBuffer',
  'includeRows',
  'subscriptionBytesPerUser',
  'subscriptionBytesTotal',
  'replayBytesPerRoom',
  'replayBytesTotal',
  'presenceBytesPerUser',
  'presenceBytesTotal',
  'liveListBytesPerUser',
  'liveListBytesTotal',
  'patternLength',
  'filterTerms',
  'patternTotal',
];

/** Command-line values that override the file and the environment. */
export interface ConfigFlags {
  config?: string;
  port?: string;
  host?: string;
}

type Raw = Record<string, unknown>;

/**
 * The configuration from the file (`--config`, or `BINDINGS_CONFIG`), then the environment,
 * then the command line, each overriding the one before; checked as a whole. Throws a
 * ConfigError naming the first key that cannot work.
 */
export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): StandaloneConfig {
  const raw: Raw = {};
  const sources = new Map<string, string>();
  const file = flags.config ?? env.BINDINGS_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError('--config', `cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (${file})`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new ConfigError('--config', `is not JSON: ${(error as Error).message} (${file})`);
    }
    if (!isObject(parsed)) throw new ConfigError('--config', `must hold a JSON object (${file})`);
    for (const [key, value] of Object.entries(parsed)) set(key, value, file);
  }
  const fromEnv = (name: string | undefined, key: string, read: (text: string) => unknown) => {
    const text = name ? env[name] : undefined;
    if (text !== undefined && text !== '') set(key, read(text), `environment ${name}`);
  };
  for (const [key, name] of Object.entries(JSON_ENV)) fromEnv(name, key, (text) => parseJson(text, key, name));
  fromEnv('BINDINGS_PORT', 'port', (text) => numberText(text));
  fromEnv('BINDINGS_HOST', 'host', String);
  fromEnv('BINDINGS_SECRET', 'secret', (text) => (text.includes(',') ? list(text) : text));
  fromEnv('REDIS_URL', 'adapter.redis', String);
  fromEnv('BINDINGS_ORIGINS', 'origins', list);
  fromEnv('BINDINGS_ADMIN_USERS', 'admin.users', list);
  if (flags.port !== undefined) set('port', numberText(flags.port), '--port');
  if (flags.host !== undefined) set('host', flags.host, '--host');
  return check(raw, (key) => sources.get(key) ?? sources.get(key.split('.')[0]));

  function set(path: string, value: unknown, source: string): void {
    const [head, member] = path.split('.');
    if (member === undefined) {
      raw[head] = value;
    } else {
      const parent = isObject(raw[head]) ? (raw[head] as Raw) : {};
      raw[head] = { ...parent, [member]: value };
    }
    sources.set(path, source);
  }
}

/** Checks every key and fills in the defaults. */
export function check(raw: Raw, sourceOf: (key: string) => string | undefined = () => undefined): StandaloneConfig {
  const fail = (key: string, problem: string): never => {
    throw new ConfigError(key, problem, sourceOf(key));
  };
  onlyKeys(raw, ['port', 'host', 'secret', 'channels', 'adapter', 'limits', 'origins', 'admin'], '', fail);

  const port = raw.port ?? 8080;
  if (!(Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535)) fail('port', 'must be an integer from 0 to 65535');
  const host = raw.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') fail('host', 'must be an address (127.0.0.1, 0.0.0.0, ::)');

  if (raw.secret === undefined) fail('secret', 'is required: the secret shared with your backend (or set BINDINGS_SECRET)');
  const secrets = Array.isArray(raw.secret) ? raw.secret : [raw.secret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.length < 16)) {
    fail('secret', 'must be a string of at least 16 characters (or a non-empty list of them), e.g. the output of: openssl rand -hex 32');
  }

  const channels = objectAt(raw, 'channels', fail);
  onlyKeys(channels, ['history', 'presence', 'overrides'], 'channels.', fail);
  const history = channels.history ?? 100;
  if (!(Number.isInteger(history) && (history as number) >= 0)) fail('channels.history', 'must be an integer of 0 or more');
  const presence = channels.presence ?? true;
  if (typeof presence !== 'boolean') fail('channels.presence', 'must be true or false');
  const overrides: Array<[string, ChannelOverride]> = [];
  for (const [pattern, value] of Object.entries(objectAt(channels, 'overrides', fail, 'channels.'))) {
    const key = `channels.overrides[${JSON.stringify(pattern)}]`;
    if (pattern === '' || pattern.length > 200) fail(key, 'must be a channel name pattern of 1 to 200 characters');
    if (!isObject(value)) fail(key, 'must be an object {history?, presence?, join?}');
    const override = value as Raw;
    onlyKeys(override, ['history', 'presence', 'join'], `${key}.`, fail);
    if (override.history !== undefined && !(Number.isInteger(override.history) && (override.history as number) >= 0))
      fail(`${key}.history`, 'must be an integer of 0 or more');
    if (override.presence !== undefined && typeof override.presence !== 'boolean') fail(`${key}.presence`, 'must be true or false');
    if (override.join !== undefined && override.join !== 'anyone') fail(`${key}.join`, 'must be "anyone" (or left out: only the channels a token names)');
    overrides.push([pattern, override as ChannelOverride]);
  }

  let adapter: StandaloneConfig['adapter'];
  if (raw.adapter !== undefined) {
    const value = objectAt(raw, 'adapter', fail);
    onlyKeys(value, ['redis', 'keyPrefix'], 'adapter.', fail);
    if (typeof value.redis !== 'string' || !/^rediss?:\/\/\S+$/.test(value.redis))
      fail('adapter.redis', 'must be a Redis URL, redis://host:port or rediss://host:port');
    if (value.keyPrefix !== undefined && (typeof value.keyPrefix !== 'string' || value.keyPrefix === ''))
      fail('adapter.keyPrefix', 'must be a non-empty string');
    adapter = { redis: value.redis as string, ...(value.keyPrefix === undefined ? {} : { keyPrefix: value.keyPrefix as string }) };
  }

  const limits = objectAt(raw, 'limits', fail);
  for (const [name, value] of Object.entries(limits)) {
    if (!LIMIT_KEYS.includes(name as keyof BindingsLimits)) fail(`limits.${name}`, `is not a limit; the limits are ${LIMIT_KEYS.join(', ')}`);
    if (!(Number.isSafeInteger(value) && (value as number) > 0)) fail(`limits.${name}`, 'must be a positive integer');
  }

  let origins: string[] | undefined;
  if (raw.origins !== undefined) {
    if (!Array.isArray(raw.origins)) fail('origins', 'must be a list of origins, ["https://app.example.com"]');
    for (const origin of raw.origins as unknown[]) {
      if (typeof origin !== 'string' || !/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i.test(origin)) {
        fail('origins', `must list origins as browsers send them, a scheme and a host without a path (got ${JSON.stringify(origin)})`);
      }
    }
    origins = raw.origins as string[];
  }

  const admin = objectAt(raw, 'admin', fail);
  onlyKeys(admin, ['users'], 'admin.', fail);
  const users = admin.users ?? [];
  if (!Array.isArray(users) || users.some((u) => typeof u !== 'string' || u === '')) fail('admin.users', 'must be a list of user names');

  return {
    port: port as number,
    host: host as string,
    secrets: secrets as string[],
    channels: { history: history as number, presence: presence as boolean, overrides },
    adapter,
    limits: limits as BindingsLimits,
    origins,
    admin: { users: users as string[] },
  };
}

/** The `--help` text: the command, and every key with its environment variable. */
export function helpText(): string {
  const lines = [
    'Usage: nest-bindings serve [--config bindings.json] [--port <port>] [--host <address>]',
    '',
    'Runs nest-bindings as the real-time server of a backend in any language: browsers connect',
    'to /ws?token=<token> (or GET /api/events?token= for Server-Sent Events) with a token your',
    'backend signed, and the backend drives channels through the signed API under /api.',
    '',
    'Configuration keys (file, then environment, then command line; later ones win):',
  ];
  for (const { key, env, flag, text } of CONFIG_KEYS) {
    lines.push(`  ${key}${[env, flag].filter(Boolean).length ? `  [${[env, flag].filter(Boolean).join(', ')}]` : ''}`);
    lines.push(`      ${text}`);
  }
  lines.push('', `Whole objects may come from the environment as JSON: ${Object.values(JSON_ENV).join(', ')}.`);
  lines.push('The file itself may be named by BINDINGS_CONFIG instead of --config.');
  return lines.join('\n');
}

function onlyKeys(object: Raw, allowed: readonly string[], prefix: string, fail: (key: string, problem: string) => never): void {
  for (const key of Object.keys(object))
    if (!allowed.includes(key)) fail(`${prefix}${key}`, `is not a configuration key; the keys here are ${allowed.join(', ')}`);
}

function objectAt(parent: Raw, key: string, fail: (key: string, problem: string) => never, prefix = ''): Raw {
  const value = parent[key];
  if (value === undefined) return {};
  if (!isObject(value)) fail(`${prefix}${key}`, 'must be an object');
  return value as Raw;
}

function isObject(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string, key: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigError(key, 'must be JSON', `environment ${name}`);
  }
}

function numberText(text: string): unknown {
  return /^\d+$/.test(text.trim()) ? Number(text) : text;
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}
