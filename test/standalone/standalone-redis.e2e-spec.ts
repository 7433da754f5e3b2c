// PROTOCOL.md sections 8 and 11: two standalone server processes (the README's command) over
// one Redis; the README's Python backend talks to the first, sockets live on both.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signRequest } from '../../lib/standalone/backend.js';
import { settle, TestSocket } from '../fixtures/harness.js';
import { startRedis } from '../scale/instances.js';
import { projectDir, python, removeDir, startServer, until, type ServerProcess } from './server-process.js';

const SECRET = 'standalone-redis-secret-0123';

let dir: string;
let redis: Awaited<ReturnType<typeof startRedis>>;
let a: ServerProcess;
let b: ServerProcess;
let redisStopped = false;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dir = projectDir();
  writeFileSync(join(dir, 'bindings.json'), JSON.stringify({ adapter: { keyPrefix: `t${randomBytes(3).toString('hex')}:` } }));
  const env = { BINDINGS_SECRET: SECRET, REDIS_URL: redis.url };
  [a, b] = await Promise.all([startServer(dir, env), startServer(dir, env)]);
  await settle(300); // both subscribed to Redis
}, 60_000);
afterAll(async () => {
  for (const socket of sockets) socket.close();
  const stopping = Date.now();
  await Promise.all([a?.stop(), b?.stop()]);
  expect(Date.now() - stopping).toBeLessThan(4000); // they close by themselves, Redis or not
  if (!redisStopped) await redis?.stop();
  removeDir(dir);
});

const backend = (command: string, args: Record<string, unknown> = {}) => python(a.http, SECRET, command, args);
async function connect(server: ServerProcess, user: string, channels: string[] = []): Promise<TestSocket> {
  const token = await python(a.http, SECRET, 'token', { user, channels });
  const socket = await TestSocket.open(`${server.ws}?token=${token}`);
  sockets.push(socket);
  return socket;
}
const presence = (socket: TestSocket, user: string) =>
  socket.frames.filter((f) => f.event === 'channel.presence' && f.data.user === user).map((f) => f.data.action);

describe('two server processes over Redis', () => {
  it('presence is one list: a user with sockets on both processes joins once and parts with the last', async () => {
    const watcher = await connect(b, 'watcher', ['hall']);
    await watcher.request('channel.join', { channel: 'hall' });
    const onA = await connect(a, 'mia', ['hall']);
    const onB = await connect(b, 'mia', ['hall']);
    await onA.request('channel.join', { channel: 'hall' });
    await onB.request('channel.join', { channel: 'hall' });
    await watcher.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'mia');
    onA.close();
    await settle(300);
    expect(presence(watcher, 'mia')).toEqual(['joined']);
    onB.close();
    await watcher.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'mia' && f.data.action === 'parted');
    expect(presence(watcher, 'mia')).toEqual(['joined', 'parted']);
  }, 30_000);

  it('the backend calls one process and acts on the user’s connections on the other', async () => {
    const member = await connect(a, 'nia', ['ops']);
    await member.request('channel.join', { channel: 'ops' });
    const remote1 = await connect(b, 'otto');
    const remote2 = await connect(a, 'otto');
    await backend('subscribe', { user: 'otto', channels: ['ops'] });
    await member.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'otto' && f.data.action === 'joined');
    // The process of remote1 applies the subscribe when Redis hands it over: its grant shows first.
    for (let i = 0; i < 50 && (await remote1.request('channel.history', { channel: 'ops' })).error; i++) await settle(20);
    await settle(100);

    const posted = await backend('post_message', { channel: 'ops', message: 'deploy at 5', user: 'bot' });
    for (const socket of [member, remote1, remote2]) expect((await socket.waitFor((f) => f.event === 'channel.message')).data).toEqual(posted);
    const edited = await backend('edit_message', { channel: 'ops', id: posted.id, message: 'deploy at 6' });
    expect((await remote1.waitFor((f) => f.event === 'channel.message:edit')).data).toEqual(edited);

    // otto is present through both processes: each member gets the new state once.
    await backend('set_state', { user: 'otto', state: { on: 'call' } });
    await member.waitFor((f) => f.event === 'channel.state');
    await settle(300);
    expect(member.frames.filter((f) => f.event === 'channel.state')).toEqual([
      { event: 'channel.state', data: { channel: 'ops', user: 'otto', state: { on: 'call' } } },
    ]);
    const info = await python(b.http, SECRET, 'info', { channels: ['ops'] });
    expect(info.channels[0].users).toEqual([
      { user: 'nia', state: null },
      { user: 'otto', state: { on: 'call' } },
    ]);

    // Settings reach every process.
    await backend('channel_config', { channel: 'ops', history: 1 });
    for (let i = 0; i < 50 && (await remote1.request('channel.info', { channel: 'ops' })).data.config.history !== 1; i++) await settle(20);
    expect((await remote1.request('channel.info', { channel: 'ops' })).data.config).toEqual({ history: 1, presence: true });

    await backend('disconnect', { user: 'otto' });
    await until(() => remote1.closeCode !== undefined && remote2.closeCode !== undefined);
    expect([remote1.closeCode, remote2.closeCode]).toEqual([4001, 4001]);
    await member.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'otto' && f.data.action === 'parted');
  }, 60_000);

  it('a signature accepted by one process is a replay on the other', async () => {
    const body = JSON.stringify({ channels: ['ops'] });
    const signature = signRequest(SECRET, 'POST', '/api/info', body);
    const send = (server: ServerProcess) =>
      fetch(`${server.http}/api/info`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-bindings-signature': signature }, body }).then(
        (r) => r.status,
      );
    expect(await send(a)).toBe(200);
    expect(await send(b)).toBe(401);
  });

  it('without Redis, a backend call answers 500 and does nothing, and the processes keep serving their own sockets', async () => {
    const local = await connect(a, 'pat', ['solo']);
    await local.request('channel.join', { channel: 'solo' });
    await redis.stop();
    redisStopped = true;
    const refused = await backend('subscribe', { user: 'pat', channels: ['elsewhere'] });
    expect(refused).toMatchObject({ status: 500, error: { code: 'internal', message: expect.stringContaining('nothing was done') } });
    expect((await local.request('channel.message', { channel: 'solo', message: 'still here' })).data).toMatchObject({ message: 'still here' });
    expect((await local.request('channel.join', { channel: 'elsewhere' })).error).toMatchObject({ code: 'forbidden' });
  });
});
