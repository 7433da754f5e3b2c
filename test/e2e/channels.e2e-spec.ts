// PROTOCOL.md section 7: channels (join, leave, messages, edit, delete, history, info),
// presence counted per user over several sockets, states, permissions and per-channel settings.
import type { IncomingMessage } from 'node:http';
import { Product, Category } from '../fixtures/entities.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp([Product, Category], {
    // x-user: <name> names the user; no header is an anonymous caller.
    authenticate: (req: IncomingMessage) => (req.headers['x-user'] ? { id: String(req.headers['x-user']) } : null),
    channels: {
      can: {
        join: (user, channel) => !channel.startsWith('staff-') || user?.id === 'boss',
        message: (_user, channel, message) => channel !== 'announcements' && message !== 'forbidden words',
      },
      configure: (channel) => (channel.startsWith('small-') ? { history: 2 } : channel.startsWith('quiet-') ? { presence: false } : undefined),
    },
  });
});
afterAll(() => t.close());

const sockets: TestSocket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});
const as = async (user?: string) => {
  const socket = await TestSocket.open(t.ws, user ? { 'x-user': user } : undefined);
  sockets.push(socket);
  return socket;
};
let counter = 0;
const fresh = (prefix = 'room') => `${prefix}-${++counter}`;
/** Frames with this event received so far (pushes and broadcasts carry no id). */
const got = (socket: TestSocket, event: string) => socket.frames.filter((f) => f.event === event && f.id === undefined);

async function join(socket: TestSocket, channel: string) {
  expect(await socket.request('channel.join', { channel })).toEqual({ event: 'channel.join', id: expect.any(Number), data: { channel } });
}

describe('messages', () => {
  it('members get {event: "channel.message", data: {channel, id, user, message, date}}; the sender gets the same data as its reply', async () => {
    const channel = fresh();
    const [alice, bob, outsider] = [await as('alice'), await as('bob'), await as('carol')];
    await join(alice, channel);
    await join(bob, channel);
    const reply = await alice.request('channel.message', { channel, message: 'hello' });
    expect(reply.data).toEqual({ channel, id: expect.any(String), user: 'alice', message: 'hello', date: expect.any(String) });
    expect(new Date(reply.data.date).toISOString()).toBe(reply.data.date);
    const frame = await bob.waitFor((f) => f.event === 'channel.message' && f.id === undefined);
    expect(frame).toEqual({ event: 'channel.message', data: reply.data });
    await alice.waitFor((f) => f.event === 'channel.message' && f.id === undefined);
    // Message ids are unique; any JSON may be a message.
    const second = await bob.request('channel.message', { channel, message: { text: 'hi', mentions: ['alice'] } });
    expect(second.data.id).not.toBe(reply.data.id);
    expect(second.data.message).toEqual({ text: 'hi', mentions: ['alice'] });
    await settle(50);
    expect(got(outsider, 'channel.message')).toEqual([]);
  });

  it('channel.history answers {channel, messages} oldest first; limit picks the newest; a channel keeps `history` messages', async () => {
    const channel = fresh('small'); // history: 2
    const alice = await as('alice');
    for (const message of ['one', 'two', 'three']) await alice.request('channel.message', { channel, message });
    const history = await alice.request('channel.history', { channel });
    expect(history.data).toEqual({
      channel,
      messages: [expect.objectContaining({ message: 'two', user: 'alice' }), expect.objectContaining({ message: 'three' })],
    });
    expect((await alice.request('channel.history', { channel, limit: 1 })).data.messages.map((m: any) => m.message)).toEqual(['three']);
    expect((await alice.request('channel.history', { channel, limit: 50 })).data.messages).toHaveLength(2);

    const big = fresh();
    for (let i = 1; i <= 5; i++) await alice.request('channel.message', { channel: big, message: `m${i}` });
    expect((await alice.request('channel.history', { channel: big })).data.messages.map((m: any) => m.message)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect((await alice.request('channel.history', { channel: big, limit: 2 })).data.messages.map((m: any) => m.message)).toEqual(['m4', 'm5']);
    expect((await alice.request('channel.history', { channel: fresh() })).data).toEqual({ channel: expect.any(String), messages: [] });
  });

  it('edit and delete: only the author may; members get channel.message:edit / channel.message:delete with the same data shape', async () => {
    const channel = fresh();
    const [alice, bob] = [await as('alice'), await as('bob')];
    await join(alice, channel);
    await join(bob, channel);
    const posted = (await alice.request('channel.message', { channel, message: 'tpyo' })).data;

    expect((await bob.request('channel.edit', { channel, id: posted.id, message: 'hijacked' })).error.code).toBe('forbidden');
    expect((await bob.request('channel.delete', { channel, id: posted.id })).error.code).toBe('forbidden');

    const edited = await alice.request('channel.edit', { channel, id: posted.id, message: 'typo' });
    expect(edited.data).toEqual({ ...posted, message: 'typo' });
    expect(await bob.waitFor((f) => f.event === 'channel.message:edit')).toEqual({ event: 'channel.message:edit', data: { ...posted, message: 'typo' } });
    expect((await bob.request('channel.history', { channel })).data.messages).toEqual([{ ...posted, message: 'typo' }]);

    const deleted = await alice.request('channel.delete', { channel, id: posted.id });
    expect(deleted.data).toEqual({ ...posted, message: 'typo' });
    expect(await bob.waitFor((f) => f.event === 'channel.message:delete')).toEqual({ event: 'channel.message:delete', data: { ...posted, message: 'typo' } });
    expect((await bob.request('channel.history', { channel })).data.messages).toEqual([]);
    expect((await alice.request('channel.edit', { channel, id: posted.id, message: 'again' })).error.code).toBe('not_found');
    expect((await alice.request('channel.delete', { channel, id: posted.id })).error.code).toBe('not_found');
    // The same id in another channel is another message.
    expect((await alice.request('channel.edit', { channel: fresh(), id: posted.id, message: 'x' })).error.code).toBe('not_found');
  });

  it('an anonymous author cannot edit or delete (there is no one to match)', async () => {
    const channel = fresh();
    const anonymous = await as();
    const posted = (await anonymous.request('channel.message', { channel, message: 'boo' })).data;
    expect(posted.user).toBeNull();
    expect((await anonymous.request('channel.edit', { channel, id: posted.id, message: 'x' })).error.code).toBe('forbidden');
    expect((await anonymous.request('channel.delete', { channel, id: posted.id })).error.code).toBe('forbidden');
  });

  it('channel.leave stops the messages', async () => {
    const channel = fresh();
    const [alice, bob] = [await as('alice'), await as('bob')];
    await join(alice, channel);
    await join(bob, channel);
    expect((await bob.request('channel.leave', { channel })).data).toEqual({ channel });
    await alice.request('channel.message', { channel, message: 'anyone?' });
    await settle(50);
    expect(got(bob, 'channel.message')).toEqual([]);
  });
});

describe('presence', () => {
  it("joined when a user's first socket joins, parted only when its last socket leaves, by leave or by disconnect", async () => {
    const channel = fresh();
    const watcher = await as('watcher');
    await join(watcher, channel);
    const presence = () =>
      got(watcher, 'channel.presence')
        .map((f) => f.data)
        .filter((d) => d.user === 'alice');

    const [one, two, three] = [await as('alice'), await as('alice'), await as('alice')];
    await join(one, channel);
    await join(two, channel);
    await join(three, channel);
    await join(three, channel); // joining twice changes nothing
    await settle(50);
    expect(presence()).toEqual([{ channel, user: 'alice', action: 'joined' }]);
    expect((await watcher.request('channel.info', { channel })).data.users).toEqual([
      { user: 'watcher', state: null },
      { user: 'alice', state: null },
    ]);

    await one.request('channel.leave', { channel });
    two.close();
    await settle(100);
    expect(presence()).toHaveLength(1);
    expect((await watcher.request('channel.info', { channel })).data.users.map((u: any) => u.user)).toEqual(['watcher', 'alice']);

    three.close(); // the last socket: by disconnect
    const parted = await watcher.waitFor((f) => f.event === 'channel.presence' && f.data.action === 'parted' && f.data.user === 'alice');
    expect(parted).toEqual({ event: 'channel.presence', data: { channel, user: 'alice', action: 'parted' } });
    expect((await watcher.request('channel.info', { channel })).data.users).toEqual([{ user: 'watcher', state: null }]);

    // Back again: joined again; leaving by channel.leave with the only socket: parted.
    const again = await as('alice');
    await join(again, channel);
    await again.request('channel.leave', { channel });
    await settle(50);
    expect(presence().map((d) => d.action)).toEqual(['joined', 'parted', 'joined', 'parted']);
  });

  it('the joining socket gets its own joined; a closed socket in several channels parts all of them', async () => {
    const [a, b] = [fresh(), fresh()];
    const watcher = await as('watcher');
    await join(watcher, a);
    await join(watcher, b);
    const dave = await as('dave');
    await join(dave, a);
    await join(dave, b);
    expect(await dave.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'dave')).toEqual({
      event: 'channel.presence',
      data: { channel: a, user: 'dave', action: 'joined' },
    });
    dave.close();
    await watcher.waitFor((f) => f.event === 'channel.presence' && f.data.action === 'parted' && f.data.channel === a);
    await watcher.waitFor((f) => f.event === 'channel.presence' && f.data.action === 'parted' && f.data.channel === b);
  });

  it('channel.state: every member, the sender included, gets {channel, user, state}; info shows it; it ends with the user', async () => {
    const channel = fresh();
    const [alice, alice2, bob] = [await as('alice'), await as('alice'), await as('bob')];
    await join(alice, channel);
    await join(alice2, channel);
    await join(bob, channel);
    const reply = await alice.request('channel.state', { channel, state: { typing: true } });
    expect(reply).toEqual({ event: 'channel.state', id: expect.any(Number), data: { channel, user: 'alice', state: { typing: true } } });
    const expected = { event: 'channel.state', data: { channel, user: 'alice', state: { typing: true } } };
    for (const socket of [alice, alice2, bob]) expect(await socket.waitFor((f) => f.event === 'channel.state' && f.id === undefined)).toEqual(expected);
    expect((await bob.request('channel.info', { channel })).data).toEqual({
      channel,
      users: [
        { user: 'alice', state: { typing: true } },
        { user: 'bob', state: null },
      ],
      config: { history: 100, presence: true },
    });
    // Not a member (this socket did not join), or anonymous: refused.
    const carol = await as('carol');
    expect((await carol.request('channel.state', { channel, state: 'away' })).error.code).toBe('forbidden');
    const anonymous = await as();
    await join(anonymous, channel);
    expect((await anonymous.request('channel.state', { channel, state: 'away' })).error.code).toBe('forbidden');
    expect((await alice.request('channel.state', { channel })).error.code).toBe('bad_request');

    alice.close();
    alice2.close();
    await bob.waitFor((f) => f.event === 'channel.presence' && f.data.action === 'parted');
    const back = await as('alice');
    await join(back, channel);
    expect((await bob.request('channel.info', { channel })).data.users).toEqual([
      { user: 'bob', state: null },
      { user: 'alice', state: null },
    ]);
  });

  it('anonymous sockets may join (when can allows) and get messages, but are never shown in presence', async () => {
    const channel = fresh();
    const watcher = await as('watcher');
    await join(watcher, channel);
    const anonymous = await as();
    await join(anonymous, channel);
    await watcher.request('channel.message', { channel, message: 'hi all' });
    await anonymous.waitFor((f) => f.event === 'channel.message' && f.id === undefined);
    anonymous.close();
    await settle(80);
    expect(got(watcher, 'channel.presence').map((f) => f.data.user)).toEqual(['watcher']);
    expect((await watcher.request('channel.info', { channel })).data.users).toEqual([{ user: 'watcher', state: null }]);
  });

  it('presence: false for a channel (configure): no presence frames, no users, no states', async () => {
    const channel = fresh('quiet');
    const [alice, bob] = [await as('alice'), await as('bob')];
    await join(alice, channel);
    await join(bob, channel);
    expect((await alice.request('channel.info', { channel })).data).toEqual({ channel, users: [], config: { history: 100, presence: false } });
    expect((await alice.request('channel.state', { channel, state: 1 })).error.code).toBe('bad_request');
    bob.close();
    await alice.request('channel.message', { channel, message: 'still works' });
    await settle(80);
    expect(got(alice, 'channel.presence')).toEqual([]);
    expect(got(alice, 'channel.message')).toHaveLength(1);
  });
});

describe('permissions and input', () => {
  it('can.join refuses join, history, info and messages; can.message refuses posting only', async () => {
    const staff = fresh('staff');
    const [alice, boss, anonymous] = [await as('alice'), await as('boss'), await as()];
    for (const socket of [alice, anonymous]) {
      for (const [event, data] of [
        ['channel.join', { channel: staff }],
        ['channel.history', { channel: staff }],
        ['channel.info', { channel: staff }],
        ['channel.message', { channel: staff, message: 'let me in' }],
      ] as const) {
        const reply = await socket.request(event, data);
        expect([event, reply.error?.code]).toEqual([event, 'forbidden']);
      }
    }
    await join(boss, staff);
    expect((await boss.request('channel.message', { channel: staff, message: 'meeting at 3' })).data.user).toBe('boss');
    expect((await boss.request('channel.history', { channel: staff })).data.messages).toHaveLength(1);

    const news = fresh('announcements').replace(/-\d+$/, '');
    await join(alice, news);
    expect((await alice.request('channel.message', { channel: news, message: 'hi' })).error).toEqual({ code: 'forbidden', message: expect.any(String) });
    const open = fresh();
    expect((await alice.request('channel.message', { channel: open, message: 'forbidden words' })).error.code).toBe('forbidden');
    // A refused edit leaves the message as it was.
    const posted = (await alice.request('channel.message', { channel: open, message: 'fine' })).data;
    expect((await alice.request('channel.edit', { channel: open, id: posted.id, message: 'forbidden words' })).error.code).toBe('forbidden');
    expect((await alice.request('channel.history', { channel: open })).data.messages).toEqual([posted]);
    await settle(30);
    expect(got(alice, 'channel.message:edit')).toEqual([]);
  });

  it('bad input answers bad_request with details, and nothing is sent', async () => {
    const alice = await as('alice');
    const channel = fresh();
    await join(alice, channel);
    const cases: Array<[string, unknown]> = [
      ['channel.join', { channel: '' }],
      ['channel.join', { channel: 7 }],
      ['channel.join', { channel: 'x'.repeat(201) }],
      ['channel.join', { channel: 'a\nb' }],
      ['channel.join', 'lobby'],
      ['channel.message', { channel }],
      ['channel.message', { channel, message: '' }],
      ['channel.message', { channel, message: 'x'.repeat(10_001) }],
      ['channel.message', { channel, message: 'hi', extra: 1 }],
      ['channel.edit', { channel, message: 'x' }],
      ['channel.history', { channel, limit: 0 }],
      ['channel.history', { channel, limit: 'all' }],
    ];
    for (const [event, data] of cases) {
      const reply = await alice.request(event, data);
      expect([event, data, reply.error?.code]).toEqual([event, data, 'bad_request']);
    }
    await settle(30);
    expect(got(alice, 'channel.message')).toEqual([]);
  });
});

describe('over HTTP (POST /api/events)', () => {
  it('messages, history and info work without a socket; join, leave and state need one', async () => {
    const channel = fresh();
    const bob = await as('bob');
    await join(bob, channel);
    const posted = await http(t.http, 'POST', '/api/events', { event: 'channel.message', data: { channel, message: 'from a form' } }, { 'x-user': 'alice' });
    expect(posted).toEqual({ status: 200, body: { channel, id: expect.any(String), user: 'alice', message: 'from a form', date: expect.any(String) } });
    expect(await bob.waitFor((f) => f.event === 'channel.message' && f.id === undefined)).toEqual({ event: 'channel.message', data: posted.body });
    expect(await http(t.http, 'POST', '/api/events', { event: 'channel.history', data: { channel } })).toEqual({
      status: 200,
      body: { channel, messages: [posted.body] },
    });
    expect((await http(t.http, 'POST', '/api/events', { event: 'channel.info', data: { channel } })).body.users).toEqual([{ user: 'bob', state: null }]);
    for (const event of ['channel.join', 'channel.leave', 'channel.state']) {
      const res = await http(t.http, 'POST', '/api/events', { event, data: { channel, state: 1 } }, { 'x-user': 'alice' });
      expect([event, res.status, res.body.error.code]).toEqual([event, 400, 'bad_request']);
    }
    expect((await http(t.http, 'POST', '/api/events', { event: 'channel.history', data: { channel: fresh('staff') } }, { 'x-user': 'alice' })).status).toBe(
      403,
    );
  });
});
