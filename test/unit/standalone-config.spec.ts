// The standalone server's pieces without a server: configuration, tokens, channel patterns, v2 signatures.
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyRequestSignature } from '../../lib/publish/sign.js';
import { signRequest, signToken, verifyToken } from '../../lib/standalone/backend.js';
import { ChannelRules, globMatcher, MAX_CONFIGURED_CHANNELS } from '../../lib/standalone/channel-rules.js';
import { check, ConfigError, loadConfig } from '../../lib/standalone/config.js';

const SECRET = 'unit-secret-0123456789';

describe('loadConfig', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'nb-config-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (config: unknown) => {
    const path = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config));
    return path;
  };

  it('fills in the defaults', () => {
    expect(loadConfig({}, { BINDINGS_SECRET: SECRET })).toEqual({
      port: 8080,
      host: '127.0.0.1',
      secrets: [SECRET],
      channels: { history: 100, presence: true, overrides: [] },
      adapter: undefined,
      limits: {},
      origins: undefined,
      admin: { users: [] },
    });
  });

  it('takes the file, then the environment, then the command line', () => {
    const path = file({ port: 1000, secret: SECRET, channels: { history: 5, overrides: { 'a:*': { join: 'anyone' } } }, admin: { users: ['x'] } });
    const env = {
      BINDINGS_PORT: '2000',
      BINDINGS_SECRET: `${SECRET}-new,${SECRET}`,
      REDIS_URL: 'redis://127.0.0.1:6390',
      BINDINGS_ORIGINS: 'https://a.example.com, https://b.example.com',
      BINDINGS_ADMIN_USERS: 'ops,root',
      BINDINGS_LIMITS: '{"framesPerSecond": 20}',
      BINDINGS_HOST: '0.0.0.0',
    };
    expect(loadConfig({ config: path, port: '3000' }, env)).toEqual({
      port: 3000,
      host: '0.0.0.0',
      secrets: [`${SECRET}-new`, SECRET],
      channels: { history: 5, presence: true, overrides: [['a:*', { join: 'anyone' }]] },
      adapter: { redis: 'redis://127.0.0.1:6390' },
      limits: { framesPerSecond: 20 },
      origins: ['https://a.example.com', 'https://b.example.com'],
      admin: { users: ['ops', 'root'] },
    });
    // A whole object from the environment replaces the file's; BINDINGS_CONFIG names the file.
    expect(loadConfig({}, { BINDINGS_CONFIG: path, BINDINGS_CHANNELS: '{"presence": false}' }).channels).toEqual({
      history: 100,
      presence: false,
      overrides: [],
    });
  });

  it.each([
    [{ config: '/nowhere/bindings.json' }, {}, '--config cannot be read: ENOENT'],
    [{ config: 'NOT JSON' }, {}, '--config is not JSON'],
    [{ config: '[1]' }, {}, '--config must hold a JSON object'],
    [{}, { BINDINGS_SECRET: SECRET, BINDINGS_CHANNELS: '{nope' }, 'channels (environment BINDINGS_CHANNELS) must be JSON'],
    [{}, { BINDINGS_SECRET: SECRET, BINDINGS_PORT: '70000' }, 'port (environment BINDINGS_PORT) must be an integer from 0 to 65535'],
  ])('names the key and its source: %j %j', (flags, env, message) => {
    const flagsWithFile = 'config' in flags && !(flags.config as string).startsWith('/') ? { config: file(flags.config as string) } : flags;
    expect(() => loadConfig(flagsWithFile, env)).toThrow(message);
  });

  it.each([
    [{ secret: [] }, 'secret must be a string of at least 16 characters'],
    [{ secret: SECRET, host: '' }, 'host must be an address'],
    [{ secret: SECRET, channels: [] }, 'channels must be an object'],
    [{ secret: SECRET, channels: { history: -1 } }, 'channels.history must be an integer of 0 or more'],
    [{ secret: SECRET, channels: { presence: 'yes' } }, 'channels.presence must be true or false'],
    [{ secret: SECRET, channels: { histroy: 1 } }, 'channels.histroy is not a configuration key'],
    [{ secret: SECRET, channels: { overrides: { 'x*': 5 } } }, 'channels.overrides["x*"] must be an object'],
    [{ secret: SECRET, channels: { overrides: { 'x*': { history: 1.5 } } } }, 'channels.overrides["x*"].history must be an integer'],
    [{ secret: SECRET, channels: { overrides: { 'x*': { presense: true } } } }, 'channels.overrides["x*"].presense is not a configuration key'],
    [{ secret: SECRET, adapter: { url: 'redis://x' } }, 'adapter.url is not a configuration key'],
    [{ secret: SECRET, adapter: { redis: 'redis://x', keyPrefix: '' } }, 'adapter.keyPrefix must be a non-empty string'],
    [{ secret: SECRET, limits: { framesPerSecond: 0 } }, 'limits.framesPerSecond must be a positive integer'],
    [{ secret: SECRET, origins: 'https://a.example.com' }, 'origins must be a list'],
    [{ secret: SECRET, admin: { users: [''] } }, 'admin.users must be a list of user names'],
    [{ secret: SECRET, admin: { user: ['x'] } }, 'admin.user is not a configuration key'],
  ])('refuses %j', (raw, message) => {
    expect(() => check(raw as Record<string, unknown>)).toThrow(ConfigError);
    expect(() => check(raw as Record<string, unknown>)).toThrow(message);
  });
});

describe('connect tokens', () => {
  const now = 1_800_000_000_000;
  it('are <base64url JSON>.<hex HMAC-SHA256 of that text>, made the same way in any language', () => {
    const token = signToken(SECRET, { user: 'alice', channels: ['lobby'], state: { s: 1 }, exp: 1_800_000_060 });
    const [text, mac] = token.split('.');
    expect(text).not.toMatch(/[=+/]/);
    expect(JSON.parse(Buffer.from(text, 'base64url').toString())).toEqual({ user: 'alice', channels: ['lobby'], state: { s: 1 }, exp: 1_800_000_060 });
    expect(mac).toBe(createHmac('sha256', SECRET).update(text).digest('hex'));
    expect(verifyToken(token, [SECRET], now)).toEqual({ payload: { user: 'alice', channels: ['lobby'], state: { s: 1 }, exp: 1_800_000_060 } });
    // During a rotation any secret verifies.
    expect(verifyToken(token, ['new-secret-0123456789', SECRET], now).payload?.user).toBe('alice');
  });

  it('are refused when expired, forged, tampered or malformed', () => {
    const token = signToken(SECRET, { user: 'alice', exp: 1_800_000_060 });
    expect(verifyToken(token, [SECRET], 1_800_000_060_000).problem).toBe('expired');
    expect(verifyToken(token, ['other-secret-0123456'], now).problem).toBe('forged');
    const [, mac] = token.split('.');
    expect(verifyToken(`${Buffer.from('{"user":"root","exp":1900000000}').toString('base64url')}.${mac}`, [SECRET], now).problem).toBe('forged');
    const unsigned = (payload: string) =>
      `${Buffer.from(payload).toString('base64url')}.${createHmac('sha256', SECRET).update(Buffer.from(payload).toString('base64url')).digest('hex')}`;
    for (const payload of [
      '[]',
      '{"user":"a"}',
      '{"user":"","exp":1900000000}',
      '{"user":"a","exp":"soon"}',
      '{"user":"a","exp":1900000000,"channels":"lobby"}',
      'nope',
    ]) {
      expect([payload, verifyToken(unsigned(payload), [SECRET], now).problem]).toEqual([payload, 'malformed']);
    }
    for (const bad of ['abc', '.abc', `x.${'0'.repeat(63)}`, `${'a'.repeat(9000)}.${'0'.repeat(64)}`])
      expect(verifyToken(bad, [SECRET], now).problem).toBe('malformed');
    expect(verifyToken(undefined, [SECRET], now).problem).toBe('missing');
  });
});

describe('v2 signatures', () => {
  it('cover the method and the path: HMAC-SHA256(secret, "<t>.<METHOD> <path>.<body>")', () => {
    const body = '{"user":"a"}';
    const header = signRequest(SECRET, 'post', '/api/disconnect', body, 1_800_000_000_500);
    expect(header).toBe(`t=1800000000,v2=${createHmac('sha256', SECRET).update(`1800000000.POST /api/disconnect.${body}`).digest('hex')}`);
    const request = { method: 'POST', path: '/api/disconnect', body: Buffer.from(body) };
    const accepted = verifyRequestSignature(header, request, [SECRET], false, 1_800_000_001_000);
    expect(accepted.problem).toBeUndefined();
    expect(verifyRequestSignature(header, { ...request, path: '/api/subscribe' }, [SECRET], false, 1_800_000_001_000).problem).toBe('mismatch');
    expect(verifyRequestSignature(header, { ...request, method: 'DELETE' }, [SECRET], false, 1_800_000_001_000).problem).toBe('mismatch');
    // v1 (over the body alone) only where it is accepted.
    const v1 = `t=1800000000,v1=${createHmac('sha256', SECRET).update(`1800000000.${body}`).digest('hex')}`;
    expect(verifyRequestSignature(v1, request, [SECRET], false, 1_800_000_001_000).problem).toBe('v1');
    const viaV1 = verifyRequestSignature(v1, request, [SECRET], true, 1_800_000_001_000);
    expect(viaV1.problem).toBeUndefined();
    // The same body on two endpoints: two requests, two replay keys.
    const other = verifyRequestSignature(
      signRequest(SECRET, 'POST', '/api/subscribe', body, 1_800_000_000_500),
      { ...request, path: '/api/subscribe' },
      [SECRET],
      false,
      1_800_000_001_000,
    );
    expect(new Set([accepted.key, viaV1.key, other.key]).size).toBe(3);
  });
});

describe('channel patterns', () => {
  it('* matches any characters, everything else itself', () => {
    const cases: Array<[string, string, boolean]> = [
      ['public-*', 'public-news', true],
      ['public-*', 'public-', true],
      ['public-*', 'xpublic-news', false],
      ['*:admin', 'room:admin', true],
      ['*:admin', 'room:admins', false],
      ['a*b*c', 'aXXbYYc', true],
      ['a*b*c', 'aXXbYY', false],
      ['exact', 'exact', true],
      ['exact', 'exactly', false],
      ['*', 'anything', true],
      ['a.b', 'aXb', false],
    ];
    for (const [pattern, name, expected] of cases) expect([pattern, name, globMatcher(pattern)(name)]).toEqual([pattern, name, expected]);
    // Adversarial names stay cheap: at most pattern length times name length steps.
    expect(globMatcher('*a*a*a*a*a*b')('a'.repeat(200))).toBe(false);
  });

  it('the first matching pattern applies, and the backend’s settings go over it, for a bounded number of channels', () => {
    const rules = new ChannelRules({
      history: 100,
      presence: true,
      overrides: [
        ['room:vip', { history: 5 }],
        ['room:*', { presence: false, join: 'anyone' }],
      ],
    });
    expect(rules.configure('room:vip')).toEqual({ history: 5, presence: undefined });
    expect(rules.openToAnyone('room:vip')).toBe(false);
    expect(rules.openToAnyone('room:1')).toBe(true);
    expect(rules.configure('lobby')).toBeUndefined();
    rules.set('room:1', { history: 3 });
    expect(rules.configure('room:1')).toEqual({ history: 3, presence: false });
    for (let i = 0; i < MAX_CONFIGURED_CHANNELS - 1; i++) rules.set(`c${i}`, { history: 1 });
    expect(rules.hasRoomFor('room:1')).toBe(true);
    expect(rules.hasRoomFor('new')).toBe(false);
  });
});
