// PROTOCOL.md section 11: the standalone server, started with the README's command, driven by
// the README's Python backend while WebSocket clients with tokens receive the frames.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signPublish, signRequest, signToken } from '../../lib/standalone/backend.js';
import { CONFIG_KEYS } from '../../lib/standalone/config.js';
import { SseReader } from '../fixtures/sse-reader.js';
import { settle, TestSocket } from '../fixtures/harness.js';
import {
  projectDir,
  python,
  PYTHON_EXAMPLE,
  readmeCommand,
  readmeSection,
  removeDir,
  runCommand,
  startServer,
  until,
  type ServerProcess,
} from './server-process.js';

const SECRET = 'standalone-secret-0123456789';
const ORIGIN = 'https://app.example.com';
const CONFIG = {
  channels: { history: 50, overrides: { 'public-*': { join: 'anyone' }, 'quiet-*': { presence: false } } },
  origins: [ORIGIN],
  admin: { users: ['root'] },
  limits: { connectionsPerUser: 5 },
};

let dir: string;
let server: ServerProcess;
const sockets: TestSocket[] = [];
const streams: SseReader[] = [];

beforeAll(async () => {
  dir = projectDir();
  writeFileSync(join(dir, 'bindings.json'), JSON.stringify(CONFIG));
  server = await startServer(dir, { BINDINGS_SECRET: SECRET });
}, 60_000);
afterAll(async () => {
  for (const socket of sockets) socket.close();
  for (const stream of streams) stream.close();
  await server?.stop();
  removeDir(dir);
});

/** A token made by the README's Python backend. */
async function token(user: string, channels: string[] = [], extra: Record<string, unknown> = {}): Promise<string> {
  return python(server.http, SECRET, 'token', { user, channels, ...extra });
}
async function connect(user: string, channels: string[] = [], extra: Record<string, unknown> = {}): Promise<TestSocket> {
  const socket = await TestSocket.open(`${server.ws}?token=${await token(user, channels, extra)}`);
  sockets.push(socket);
  return socket;
}
const backend = (command: string, args: Record<string, unknown> = {}) => python(server.http, SECRET, command, args);
/** Status of a refused upgrade. */
const refusedUpgrade = (url: string, headers?: Record<string, string>) =>
  TestSocket.open(url, headers).then(
    (socket) => (socket.close(), 101),
    (error: { status?: number }) => error.status,
  );
async function signedCall(method: string, path: string, body: string, signature: string): Promise<{ status: number; body: any }> {
  const res = await fetch(server.http + path, { method, headers: { 'content-type': 'application/json', 'x-bindings-signature': signature }, body });
  return { status: res.status, body: await res.json() };
}

describe('the command', () => {
  it('is the README’s, and --help documents every key and its environment variable', async () => {
    expect(readmeCommand()).toBe('npx nest-bindings serve --config bindings.json');
    const help = await runCommand(dir, 'npx nest-bindings --help');
    expect(help.code).toBe(0);
    for (const { key, env, flag } of CONFIG_KEYS) {
      expect(help.stdout).toContain(key);
      if (env) expect(help.stdout).toContain(env);
      if (flag) expect(help.stdout).toContain(flag);
      // The README's table lists them too.
      expect(readmeSection()).toContain(`\`${key}\``);
      if (env) expect(readmeSection()).toContain(env);
    }
  });

  it('takes --port over the file and the environment, and refuses one that cannot be', async () => {
    const result = await runCommand(dir, `${readmeCommand()} --port 99999`, { BINDINGS_SECRET: SECRET, BINDINGS_PORT: '8080' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid configuration: port (--port) must be an integer from 0 to 65535');
  });

  it.each([
    [
      'a join rule other than "anyone"',
      { secret: SECRET, channels: { overrides: { 'a*': { join: 'everyone' } } } },
      {},
      'channels.overrides["a*"].join (bindings-bad.json)',
    ],
    ['an unknown key', { secret: SECRET, portt: 80 }, {}, 'portt (bindings-bad.json) is not a configuration key'],
    ['no secret', {}, {}, 'secret is required'],
    ['a short secret from the environment', {}, { BINDINGS_SECRET: 'short' }, 'secret (environment BINDINGS_SECRET)'],
    ['a port that is not a number', { secret: SECRET }, { BINDINGS_PORT: 'eighty' }, 'port (environment BINDINGS_PORT) must be an integer'],
    ['a limit that is not one', { secret: SECRET, limits: { framesPerSecnd: 5 } }, {}, 'limits.framesPerSecnd'],
    ['an origin with a path', { secret: SECRET }, { BINDINGS_ORIGINS: 'https://a.example.com/app' }, 'origins (environment BINDINGS_ORIGINS)'],
    ['a Redis URL that is not one', { secret: SECRET }, { REDIS_URL: 'localhost:6379' }, 'adapter.redis (environment REDIS_URL)'],
  ])('refuses %s at start, naming the key, with a non-zero exit code', async (_name, config, env, message) => {
    writeFileSync(join(dir, 'bindings-bad.json'), JSON.stringify(config));
    const result = await runCommand(dir, readmeCommand().replace('bindings.json', 'bindings-bad.json'), { BINDINGS_SECRET: '', ...env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`invalid configuration: ${message}`);
  });
});

describe('connect tokens', () => {
  it('name the user, the channels it may join (and those open to anyone), and its initial presence state', async () => {
    const alice = await connect('alice', ['lobby'], { state: { status: 'online' } });
    expect((await alice.request('channel.join', { channel: 'lobby' })).data).toEqual({ channel: 'lobby' });
    expect((await alice.request('channel.join', { channel: 'staff' })).error).toMatchObject({ code: 'forbidden' });
    expect((await alice.request('channel.history', { channel: 'staff' })).error).toMatchObject({ code: 'forbidden' });
    expect((await alice.request('channel.join', { channel: 'public-news' })).data).toEqual({ channel: 'public-news' });
    const info = await alice.request('channel.info', { channel: 'lobby' });
    expect(info.data.users).toEqual([{ user: 'alice', state: { status: 'online' } }]);
    alice.close();
  });

  it('expired, forged, tampered, malformed or missing: 401 on the upgrade and on the event stream', async () => {
    const expired = await token('alice', ['lobby'], { ttl: -5 });
    const forged = signToken('another-secret-0123456789', { user: 'alice', channels: ['lobby'], expiresIn: 60 });
    const good = await token('alice', ['lobby']);
    const [payload, mac] = good.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const tampered = `${Buffer.from(JSON.stringify({ ...claims, user: 'root' })).toString('base64url')}.${mac}`;
    for (const bad of [expired, forged, tampered, 'not-a-token', '']) {
      expect([bad, await refusedUpgrade(`${server.ws}?token=${bad}`)]).toEqual([bad, 401]);
      const res = await fetch(`${server.http}/api/events?token=${bad}`);
      expect([bad, res.status]).toEqual([bad, 401]);
      expect((await res.json()).error.code).toBe('unauthorized');
    }
    const res = await fetch(`${server.http}/api/events?token=${expired}`);
    expect((await res.json()).error.message).toBe('The token has expired');
    expect(await refusedUpgrade(`${server.ws}?token=${good}`)).toBe(101);
  });

  it('browsers from an origin not listed are refused with 403, on the upgrade and on the event stream', async () => {
    const good = await token('alice', ['lobby']);
    expect(await refusedUpgrade(`${server.ws}?token=${good}`, { origin: 'https://evil.example.net' })).toBe(403);
    expect(await refusedUpgrade(`${server.ws}?token=${good}`, { origin: ORIGIN })).toBe(101);
    expect((await fetch(`${server.http}/api/events?token=${good}`, { headers: { origin: 'https://evil.example.net' } })).status).toBe(403);
  });
});

describe('the backend API, driven by the README’s Python backend', () => {
  it('presence with several sockets per user: joined once, parted with the last socket', async () => {
    const bob = await connect('bob', ['room-1']);
    await bob.request('channel.join', { channel: 'room-1' });
    const a1 = await connect('ann', ['room-1']);
    const a2 = await connect('ann', ['room-1']);
    await a1.request('channel.join', { channel: 'room-1' });
    await a2.request('channel.join', { channel: 'room-1' });
    await bob.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'ann' && f.data.action === 'joined');
    a1.close();
    await settle(300);
    const annFrames = () => bob.frames.filter((f) => f.event === 'channel.presence' && f.data.user === 'ann');
    expect(annFrames().map((f) => f.data.action)).toEqual(['joined']);
    expect((await backend('info', { channels: ['room-1'] })).channels[0].users.map((u: any) => u.user)).toEqual(['bob', 'ann']);
    a2.close();
    await bob.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'ann' && f.data.action === 'parted');
    expect(annFrames().map((f) => f.data.action)).toEqual(['joined', 'parted']);
  }, 30_000);

  it('subscribe, message, edit, delete, state, info, channel_config, unsubscribe, disconnect', async () => {
    const dora = await connect('dora', ['team'], { state: { mood: 'calm' } });
    await dora.request('channel.join', { channel: 'team' });
    // carol's token names no channel: the backend puts both of her sockets in "team".
    const c1 = await connect('carol');
    const c2 = await connect('carol');
    expect((await c1.request('channel.join', { channel: 'team' })).error).toMatchObject({ code: 'forbidden' });
    expect(await backend('subscribe', { user: 'carol', channels: ['team'] })).toEqual({ user: 'carol', channels: ['team'] });
    await dora.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'carol' && f.data.action === 'joined');

    const posted = await backend('post_message', { channel: 'team', message: { text: 'hello' }, user: 'bot' });
    expect(posted).toMatchObject({ channel: 'team', user: 'bot', message: { text: 'hello' } });
    for (const socket of [dora, c1, c2]) {
      const frame = await socket.waitFor((f) => f.event === 'channel.message' && f.data.id === posted.id);
      expect(frame.data).toEqual(posted);
    }
    // A channel the backend subscribed her to is hers as the token's are: history, posting.
    expect((await c1.request('channel.history', { channel: 'team' })).data.messages).toEqual([posted]);

    const edited = await backend('edit_message', { channel: 'team', id: posted.id, message: { text: 'hello, all' } });
    expect(edited).toEqual({ ...posted, message: { text: 'hello, all' } });
    expect((await dora.waitFor((f) => f.event === 'channel.message:edit')).data).toEqual(edited);
    expect(await backend('delete_message', { channel: 'team', id: posted.id })).toEqual(edited);
    expect((await c2.waitFor((f) => f.event === 'channel.message:delete')).data).toEqual(edited);
    expect(await backend('delete_message', { channel: 'team', id: posted.id })).toEqual({
      status: 404,
      error: { code: 'not_found', message: `Message ${posted.id} not found in channel team` },
    });

    expect(await backend('set_state', { user: 'carol', state: { typing: true } })).toEqual({ user: 'carol', state: { typing: true } });
    await dora.waitFor((f) => f.event === 'channel.state' && f.data.user === 'carol');
    await settle(200);
    // Two sockets of carol, one state frame per member.
    expect(dora.frames.filter((f) => f.event === 'channel.state')).toEqual([
      { event: 'channel.state', data: { channel: 'team', user: 'carol', state: { typing: true } } },
    ]);
    expect(await backend('info', { channels: ['team'] })).toEqual({
      channels: [
        {
          channel: 'team',
          users: [
            { user: 'dora', state: { mood: 'calm' } },
            { user: 'carol', state: { typing: true } },
          ],
          config: { history: 50, presence: true },
        },
      ],
    });

    expect(await backend('channel_config', { channel: 'team', history: 2 })).toEqual({ channel: 'team', config: { history: 2, presence: true } });
    expect((await dora.request('channel.info', { channel: 'team' })).data.config).toEqual({ history: 2, presence: true });
    expect((await backend('info', { channels: ['quiet-room'] })).channels[0].config).toEqual({ history: 50, presence: false });

    expect(await backend('unsubscribe', { user: 'carol', channels: ['team'] })).toEqual({ user: 'carol', channels: ['team'] });
    await dora.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'carol' && f.data.action === 'parted');
    expect((await c1.request('channel.join', { channel: 'team' })).error).toMatchObject({ code: 'forbidden' });

    expect(await backend('disconnect', { user: 'carol' })).toEqual({ user: 'carol' });
    await until(() => c1.closeCode !== undefined && c2.closeCode !== undefined);
    expect([c1.closeCode, c2.closeCode]).toEqual([4001, 4001]);
    expect(dora.closeCode).toBeUndefined();
  }, 60_000);

  it('the event stream joins the token’s channels and gets their frames', async () => {
    const stream = await SseReader.open(`${server.http}/api/events?token=${await token('erin', ['stream-room'])}`);
    streams.push(stream);
    await settle(100);
    const posted = await backend('post_message', { channel: 'stream-room', message: 'via SSE' });
    const event = await stream.waitFor(() => stream.events().find((e) => e.event === 'channel.message'));
    expect(event.frame).toEqual({ event: 'channel.message', data: posted });
    expect((await backend('info', { channels: ['stream-room'] })).channels[0].users).toEqual([{ user: 'erin', state: null }]);
    expect(await backend('publish', { channel: 'stream-room', event: 'news', data: { n: 1 } })).toEqual({ delivered: 1 });
    await stream.waitFor(() => stream.events().find((e) => e.event === 'news'));
    // The backend ends event streams as it closes sockets.
    await backend('disconnect', { user: 'erin' });
    await stream.waitFor(() => stream.ended);
    expect((await backend('info', { channels: ['stream-room'] })).channels[0].users).toEqual([]);
  }, 30_000);

  it('bad bodies answer 400 in the contract’s shape, naming each field', async () => {
    expect(await backend('subscribe', { user: 'carol', channels: [] })).toEqual({
      status: 400,
      error: {
        code: 'bad_request',
        message: 'channels must be a list of 1 to 1000 channel names',
        details: [{ field: 'channels', constraint: 'isChannelList', message: 'channels must be a list of 1 to 1000 channel names' }],
      },
    });
    const body = JSON.stringify({ user: 'x', chanels: ['a'] });
    const res = await signedCall('POST', '/api/subscribe', body, signRequest(SECRET, 'POST', '/api/subscribe', body));
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: any) => d.field)).toEqual(['channels', 'chanels']);
  });
});

describe('backend bodies', () => {
  it('up to limits.maxPayload are read (the platform’s 100 kB default does not apply); larger ones answer 413', async () => {
    const channels = Array.from({ length: 1000 }, (_, i) => `c${i}-${'x'.repeat(180)}`);
    const body = JSON.stringify({ user: 'nobody-online', channels });
    expect(body.length).toBeGreaterThan(150_000);
    const accepted = await signedCall('POST', '/api/subscribe', body, signRequest(SECRET, 'POST', '/api/subscribe', body));
    expect(accepted.status).toBe(200);
    const huge = JSON.stringify({ channel: 'lobby', message: 'x'.repeat(1100 * 1024) });
    expect(await signedCall('POST', '/api/message', huge, signRequest(SECRET, 'POST', '/api/message', huge))).toEqual({
      status: 413,
      body: { error: { code: 'too_large', message: 'The body is too large' } },
    });
  });
});

describe('backend signatures', () => {
  it('a signature is accepted once: a replay answers 401 and does nothing', async () => {
    const dora = await connect('fay', ['replayed']);
    await dora.request('channel.join', { channel: 'replayed' });
    const body = JSON.stringify({ channel: 'replayed', message: 'once' });
    const signature = signRequest(SECRET, 'POST', '/api/message', body);
    expect((await signedCall('POST', '/api/message', body, signature)).status).toBe(200);
    expect(await signedCall('POST', '/api/message', body, signature)).toEqual({
      status: 401,
      body: { error: { code: 'unauthorized', message: 'This signed request was already accepted once; sign each request anew' } },
    });
    await settle(200);
    expect(dora.frames.filter((f) => f.event === 'channel.message')).toHaveLength(1);
  });

  it('v2 only, for its own method and path; /api/publish takes v1 too', async () => {
    const body = JSON.stringify({ user: 'gus', channels: ['x'] });
    const v1 = await signedCall('POST', '/api/subscribe', body, signPublish(SECRET, body));
    expect(v1).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: expect.stringContaining('needs a v2 signature') } } });
    const elsewhere = await signedCall('POST', '/api/unsubscribe', body, signRequest(SECRET, 'POST', '/api/subscribe', body));
    expect(elsewhere).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'The signature does not match the request' } } });
    const publish = JSON.stringify({ channel: 'nobody-here', event: 'e', data: 1 });
    expect((await signedCall('POST', '/api/publish', publish, signPublish(SECRET, publish))).status).toBe(200);
    const publish2 = JSON.stringify({ channel: 'nobody-here', event: 'e', data: 2 });
    expect((await signedCall('POST', '/api/publish', publish2, signRequest(SECRET, 'POST', '/api/publish', publish2))).status).toBe(200);
    const old = signRequest(SECRET, 'POST', '/api/disconnect', '{"user":"gus"}', Date.now() - 61_000);
    expect((await signedCall('POST', '/api/disconnect', '{"user":"gus"}', old)).body.error.message).toMatch(/more than 60 seconds old/);
  });
});

describe('admin', () => {
  it('/admin and admin.watch are for admin.users only', async () => {
    expect((await fetch(`${server.http}/admin?token=${await token('alice')}`)).status).toBe(403);
    expect((await fetch(`${server.http}/admin`)).status).toBe(401);
    const page = await fetch(`${server.http}/admin`, { headers: { authorization: `Bearer ${await token('root')}` } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<title>nest-bindings · admin</title>');
    const alice = await connect('alice');
    expect((await alice.request('admin.watch')).error).toMatchObject({ code: 'forbidden' });
    const root = await connect('root');
    const stats = (await root.request('admin.watch')).data;
    expect(stats.connections.sockets).toBeGreaterThanOrEqual(2);
    expect(stats.history.bucketSeconds).toBe(10);
    // The module's statistics route answers the same users.
    expect((await fetch(`${server.http}/api/admin/stats?token=${await token('alice')}`)).status).toBe(403);
    const body = await (await fetch(`${server.http}/api/admin/stats?token=${await token('root')}`)).json();
    expect(body.connections).toBeGreaterThanOrEqual(2);
  });
});

describe('the README', () => {
  it('shows the Python backend the tests run, whole', () => {
    const section = readmeSection();
    const block = /```python\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBe(readFileSync(PYTHON_EXAMPLE, 'utf8'));
  });
});
