import { applyLiveOps, connect, pageLength, type BindingClient, type ConnectOptions, type LiveChange, type LiveList } from '../../lib/client/index.js';
import { socketClass, tick, until, type FakeSocket } from './fake-websocket.js';

/**
 * Live lists in the client (PROTOCOL.md section 9): the operations of a frame applied to the
 * page, frames checked by `seq`, the page read again on a gap, a frame that does not fit, a
 * frame of an unknown room and a reconnect; `close()`. Against the fake WebSocket.
 */

type Item = { id: number; name?: string };
const row = (id: number, name = `r${id}`): Item => ({ id, name });
const ids = (rows: readonly Item[]) => rows.map((r) => r.id);

describe('applyLiveOps', () => {
  const five = () => [1, 2, 3, 4, 5].map((id) => row(id));

  it('insert puts the row at i: first, middle, after the last', () => {
    expect(ids(ok(applyLiveOps(five(), [['insert', 0, row(9)]])))).toEqual([9, 1, 2, 3, 4, 5]);
    expect(ids(ok(applyLiveOps(five(), [['insert', 2, row(9)]])))).toEqual([1, 2, 9, 3, 4, 5]);
    expect(ids(ok(applyLiveOps(five(), [['insert', 5, row(9)]])))).toEqual([1, 2, 3, 4, 5, 9]);
    expect(ids(ok(applyLiveOps([], [['insert', 0, row(9)]])))).toEqual([9]);
  });

  it('remove takes out the row at i: first, last, the only one', () => {
    expect(ids(ok(applyLiveOps(five(), [['remove', 0]])))).toEqual([2, 3, 4, 5]);
    expect(ids(ok(applyLiveOps(five(), [['remove', 4]])))).toEqual([1, 2, 3, 4]);
    expect(ids(ok(applyLiveOps([row(1)], [['remove', 0]])))).toEqual([]);
  });

  it('update replaces the row at i and leaves the others (the same objects) in place', () => {
    const rows = five();
    const next = ok(applyLiveOps(rows, [['update', 4, row(5, 'new')]]));
    expect(next[4]).toEqual({ id: 5, name: 'new' });
    expect(next.slice(0, 4)).toEqual(rows.slice(0, 4));
    expect(next[0]).toBe(rows[0]);
    expect(ok(applyLiveOps(rows, [['update', 0, row(1, 'first')]]))[0].name).toBe('first');
  });

  it('move takes the row at from out and puts it at to, its final index in the shortened array', () => {
    expect(ids(ok(applyLiveOps(five(), [['move', 0, 4]])))).toEqual([2, 3, 4, 5, 1]);
    expect(ids(ok(applyLiveOps(five(), [['move', 4, 0]])))).toEqual([5, 1, 2, 3, 4]);
    expect(ids(ok(applyLiveOps(five(), [['move', 1, 3]])))).toEqual([1, 3, 4, 2, 5]);
    expect(ids(ok(applyLiveOps(five(), [['move', 3, 1]])))).toEqual([1, 4, 2, 3, 5]);
    expect(ids(ok(applyLiveOps(five(), [['move', 2, 2]])))).toEqual([1, 2, 3, 4, 5]);
  });

  it('applies ops in order, each against the array as the previous ones left it (the frame of PROTOCOL.md section 9)', () => {
    const page = Array.from({ length: 20 }, (_, i) => row(i + 1));
    const next = ok(
      applyLiveOps(page, [
        ['remove', 19],
        ['insert', 0, row(99)],
        ['update', 4, row(4, 'changed')],
        ['move', 7, 2],
      ]),
    );
    expect(ids(next)).toEqual([99, 1, 7, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(next[5]).toEqual({ id: 4, name: 'changed' });
    // An index valid only after an earlier op: insert at the end of the grown array, remove it.
    expect(
      ids(
        ok(
          applyLiveOps(
            [row(1)],
            [
              ['insert', 1, row(2)],
              ['remove', 1],
              ['insert', 1, row(3)],
            ],
          ),
        ),
      ),
    ).toEqual([1, 3]);
    expect(ok(applyLiveOps(page, []))).toEqual(page);
  });

  it('never changes the array it is given', () => {
    const rows = five();
    const copy = structuredClone(rows);
    applyLiveOps(rows, [
      ['remove', 0],
      ['insert', 0, row(7)],
      ['move', 0, 3],
      ['update', 1, row(2, 'x')],
    ]);
    applyLiveOps(rows, [
      ['remove', 0],
      ['remove', 9],
    ]); // fails half-way
    expect(rows).toEqual(copy);
  });

  it.each([
    ['insert past the end', [['insert', 6, row(9)]]],
    ['insert at -1', [['insert', -1, row(9)]]],
    ['remove at the length', [['remove', 5]]],
    ['remove at -1', [['remove', -1]]],
    ['update at the length', [['update', 5, row(9)]]],
    ['move to the length (to is a final index)', [['move', 0, 5]]],
    ['move from the length', [['move', 5, 0]]],
    ['a fractional index', [['remove', 1.5]]],
    ['an index as a string', [['remove', '1']]],
    ['an index that is NaN', [['insert', Number.NaN, row(9)]]],
    ['an unknown operation', [['replace', 0, row(9)]]],
    ['an op that is not an array', [{ op: 'remove', i: 0 }]],
    ['a row that is not an object', [['insert', 0, 'row']]],
    ['a row that is null', [['update', 0, null]]],
    ['a row that is an array', [['insert', 0, [1]]]],
    ['a missing row', [['insert', 0]]],
    ['an extra member', [['remove', 0, 1]]],
    [
      'an index valid only before an earlier op',
      [
        ['remove', 0],
        ['remove', 4],
      ],
    ],
    ['ops that are not an array', { remove: 0 }],
    ['no ops at all', undefined],
  ])('refuses %s', (_, ops) => {
    const result = applyLiveOps(five(), ops);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toEqual(expect.any(String));
  });

  it('pageLength: the rows a page holds for a count', () => {
    expect([pageLength(1, 10, 0), pageLength(1, 10, 3), pageLength(1, 10, 10), pageLength(1, 10, 57)]).toEqual([0, 3, 10, 10]);
    expect([pageLength(2, 10, 10), pageLength(2, 10, 13), pageLength(3, 10, 57), pageLength(6, 10, 57), pageLength(7, 10, 57)]).toEqual([0, 3, 10, 7, 0]);
  });
});

function ok<T>(result: ReturnType<typeof applyLiveOps<T>>): T[] {
  if (!result.ok) throw new Error(result.reason);
  return result.rows;
}

// --- the client ---

const clients: BindingClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function setup(options: ConnectOptions = {}) {
  const sockets = socketClass();
  const client = connect('ws://test/ws', { WebSocket: sockets.Socket, heartbeat: 0, reconnect: { minDelay: 5, maxDelay: 20 }, ...options });
  clients.push(client);
  return { client, sockets, socket: () => sockets.last() };
}

const ROOM = 'shop.Product#open';
const EVENT = 'shop.Product.list.changed';
const page = (rows: Item[], extra: Record<string, unknown> = {}) => ({ page: 1, limit: 3, count: rows.length, rows, room: ROOM, seq: 0, ...extra });
const frame = (seq: number, count: number, ops: unknown[], room = ROOM, event = EVENT) => ({ event, room, seq, change: `c${seq}`, count, ops });

/** Opens a live list and answers its request with `reply`. */
async function opened(client: BindingClient, socket: () => FakeSocket, reply: object, query: object = { filter: { status: 'open' }, limit: 3 }) {
  const pending = client.model<Item>('shop.Product').live(query);
  await until(() => socket().sent.some((f) => f.event === 'shop.Product.list' && !f.answered));
  const request = socket().last('shop.Product.list');
  request.answered = true;
  socket().receive({ event: request.event, id: request.id, data: reply });
  return pending;
}

/** The reasons and ids of every change a list reports. */
function record(list: LiveList<Item>) {
  const changes: string[] = [];
  list.on('change', (c) => changes.push(`${c.reason}:${ids(c.rows).join(',')}:${c.count}`));
  return changes;
}

const requests = (s: FakeSocket, event = 'shop.Product.list') => s.sent.filter((f) => f.event === event);

describe('client.model().live()', () => {
  it('sends list (search when the query has q) with live: true and resolves with the page', async () => {
    const { client, socket } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1), row(2)], { count: 2, seq: 4 }));
    expect(socket().last('shop.Product.list').data).toEqual({ filter: { status: 'open' }, limit: 3, live: true });
    expect([ids(list.rows), list.count, list.page, list.limit, list.room, list.seq, list.closed]).toEqual([[1, 2], 2, 1, 3, ROOM, 4, false]);
    expect([list.stream, list.action]).toEqual(['shop.Product', 'list']);

    const found = client.model('shop.Product').live({ q: 'lamp' });
    expect(socket().last().event).toBe('shop.Product.search');
    socket().reply({ ...page([]), room: 'shop.Product#lamp' });
    await tick();
    expect((await found).action).toBe('search');
  });

  it('applies the ops of each frame in order, keeps count, and reports each frame', async () => {
    const { client, socket } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1), row(2), row(3)], { count: 5 }));
    const changes = record(list);
    const before = list.rows;
    socket().receive(
      frame(1, 6, [
        ['remove', 2],
        ['insert', 0, row(9)],
      ]),
    );
    expect(ids(list.rows)).toEqual([9, 1, 2]);
    expect(before).toEqual([row(1), row(2), row(3)]); // a new array each time
    socket().receive(
      frame(2, 6, [
        ['update', 1, row(1, 'renamed')],
        ['move', 1, 2],
      ]),
    );
    expect(list.rows).toEqual([row(9), row(2), row(1, 'renamed')]);
    socket().receive(frame(3, 7, [])); // only the count changed
    expect([list.count, list.seq]).toEqual([7, 3]);
    expect(changes).toEqual(['frame:9,1,2:6', 'frame:9,2,1:6', 'frame:9,2,1:7']);
    expect(requests(socket())).toHaveLength(1); // nothing read again
  });

  it('hands the change (ops, change id, seq) to listeners and yields it to async iteration after each frame', async () => {
    const { client, socket } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1)], { count: 1 }));
    const heard: LiveChange<Item>[] = [];
    list.on('change', (c) => heard.push(c));
    const iterator = list[Symbol.asyncIterator]();
    socket().receive(frame(1, 2, [['insert', 1, row(2)]]));
    socket().receive(frame(2, 1, [['remove', 0]]));
    expect(heard[0]).toEqual({ reason: 'frame', rows: [row(1), row(2)], count: 2, seq: 1, ops: [['insert', 1, row(2)]], change: 'c1' });
    expect((await iterator.next()).value).toBe(heard[0]);
    expect((await iterator.next()).value.rows).toEqual([row(2)]);
    const next = iterator.next();
    await list.close();
    expect(await next).toEqual({ value: undefined, done: true });
  });

  it('ignores a frame it already has (seq at or below its own): nothing changes, nothing is read', async () => {
    const { client, socket } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1)], { count: 1, seq: 5 }));
    const changes = record(list);
    socket().receive(frame(5, 0, [['remove', 0]]));
    socket().receive(frame(3, 0, [['remove', 0]]));
    expect([ids(list.rows), changes, requests(socket()).length]).toEqual([[1], [], 1]);
  });

  it('a gap in seq reads the page again; frames that come meanwhile wait, and those past the reply apply', async () => {
    const { client, socket } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1), row(2)]));
    const changes = record(list);
    socket().receive(frame(2, 3, [['insert', 0, row(7)]])); // seq 1 is missing
    expect(ids(list.rows)).toEqual([1, 2]);
    expect(requests(socket())).toHaveLength(2);
    expect(socket().last().data).toEqual({ filter: { status: 'open' }, limit: 3, live: true });
    // Frames while the page is read: 3 is in the reply already, 4 comes after it.
    socket().receive(frame(3, 3, [['insert', 0, row(8)]]));
    socket().receive(frame(4, 2, [['remove', 2]]));
    socket().receive(frame(2, 3, [['insert', 0, row(7)]])); // a repeat during the read changes nothing either
    socket().reply(page([row(8), row(7), row(1)], { count: 3, seq: 3 }));
    await tick();
    expect(ids(list.rows)).toEqual([8, 7]);
    expect([list.count, list.seq]).toEqual([2, 4]);
    expect(changes).toEqual(['reload:8,7,1:3', 'frame:8,7:2']);
    expect(requests(socket())).toHaveLength(2); // read once
  });

  it.each([
    ['an index outside the page', [['remove', 3]]],
    ['an unknown operation', [['swap', 0, 1]]],
    ['ops that are not an array', 'remove 0'],
    ['a count that does not match the rows (the page holds min(limit, count))', [['remove', 0]], 2],
    [
      'a page that would grow past its limit',
      [
        ['insert', 0, row(9)],
        ['insert', 0, row(8)],
      ],
      4,
    ],
    ['a count that is not a number', [], '2'],
  ])('a frame with %s is not applied: the page is read again', async (_, ops, count: unknown = 2) => {
    const { client, socket } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1), row(2)]));
    const changes = record(list);
    socket().receive({ ...frame(1, 0, ops as unknown[]), count });
    expect(ids(list.rows)).toEqual([1, 2]);
    expect(list.seq).toBe(0);
    expect(requests(socket())).toHaveLength(2);
    socket().reply(page([row(2)], { seq: 1 }));
    await tick();
    expect([ids(list.rows), list.seq, changes]).toEqual([[2], 1, ['reload:2:1']]);
    socket().receive(frame(2, 0, [['remove', 0]]));
    expect([ids(list.rows), list.count]).toEqual([[], 0]);
  });

  it('one list reading its page while another of the same room applies frames', async () => {
    const { client, socket } = setup();
    socket().open();
    const a = await opened(client, socket, page([row(1)], { count: 1 }));
    const b = await opened(client, socket, page([row(1)], { count: 1 }));
    expect(b.room).toBe(a.room);
    socket().receive(frame(1, 2, [['insert', 1, row(2)]]));
    expect([ids(a.rows), ids(b.rows)]).toEqual([
      [1, 2],
      [1, 2],
    ]);
    expect(a.rows).not.toBe(b.rows); // each list its own copy
  });

  it('a frame of a room no list knows: the room is left on the server and the lists of that kind read their pages again', async () => {
    const { client, socket } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1)], { count: 1 }));
    const other = await opened(client, socket, { ...page([row(5)], { count: 1 }), room: 'shop.Product#other' }, { limit: 3 });
    socket().receive(frame(1, 0, [['remove', 0]], 'shop.Product#stale'));
    expect(socket().last('shop.Product.unsubscribe').data).toEqual({ room: 'shop.Product#stale' });
    expect(
      requests(socket())
        .slice(2)
        .map((f) => f.data),
    ).toEqual([
      { filter: { status: 'open' }, limit: 3, live: true },
      { limit: 3, live: true },
    ]);
    // A frame of another model, or of a live search, is nothing to these lists.
    socket().receive(frame(1, 0, [], 'app.Note#x', 'app.Note.list.changed'));
    socket().receive(frame(1, 0, [], 'shop.Product#q', 'shop.Product.search.changed'));
    expect(requests(socket())).toHaveLength(4);
    expect(requests(socket(), 'shop.Product.unsubscribe')).toHaveLength(2); // the search room is left too
    expect(requests(socket(), 'app.Note.unsubscribe')).toHaveLength(1);
    expect([list.closed, other.closed]).toEqual([false, false]);
    // Further frames of the stale room (sent before the server saw the unsubscribe) are ignored.
    socket().receive(frame(2, 0, [], 'shop.Product#stale'));
    expect(requests(socket(), 'shop.Product.unsubscribe')).toHaveLength(2);
  });

  it('a frame that overtakes the reply of a first read is applied once the reply names its room', async () => {
    const { client, socket } = setup();
    socket().open();
    const pending = client.model<Item>('shop.Product').live({ limit: 3 });
    socket().receive(frame(1, 1, [['remove', 1]]));
    socket().receive(frame(2, 2, [['insert', 0, row(3)]]));
    expect(requests(socket(), 'shop.Product.unsubscribe')).toEqual([]);
    socket().reply(page([row(1), row(2)], { seq: 0 }));
    await tick();
    const list = await pending;
    expect([ids(list.rows), list.count, list.seq]).toEqual([[3, 1], 2, 2]);
  });

  it('close() unsubscribes {room}; with two lists of one room only the last close does; late frames are ignored', async () => {
    const { client, socket } = setup();
    socket().open();
    const a = await opened(client, socket, page([row(1)], { count: 1 }));
    const b = await opened(client, socket, page([row(1)], { count: 1 }));
    const changes = record(a);
    await a.close();
    expect(a.closed).toBe(true);
    expect(requests(socket(), 'shop.Product.unsubscribe')).toEqual([]);
    socket().receive(frame(1, 0, [['remove', 0]]));
    expect([ids(a.rows), ids(b.rows), changes]).toEqual([[1], [], []]);
    const closing = b.close();
    expect(socket().last().event).toBe('shop.Product.unsubscribe');
    expect(socket().last().data).toEqual({ room: ROOM });
    socket().reply({ room: ROOM });
    await tick();
    await closing;
    socket().receive(frame(2, 1, [['insert', 0, row(1)]]));
    expect(requests(socket())).toHaveLength(2); // not taken as an unknown room
    expect(requests(socket(), 'shop.Product.unsubscribe')).toHaveLength(1);
    await b.close(); // twice is fine
  });

  it('a list closed while its page is read again leaves the room when the reply comes', async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1)], { count: 1 }));
    socket().receive(frame(2, 1, [])); // a gap: read again
    await list.close();
    expect(requests(socket(), 'shop.Product.unsubscribe')).toEqual([]); // the read would hold the room again
    socket().reply(page([row(1)], { count: 1, seq: 2 }));
    await tick();
    expect(socket().last()).toMatchObject({ event: 'shop.Product.unsubscribe', data: { room: ROOM } });
    expect(list.rows).toEqual([row(1)]);

    // The same after a reconnect, when the room of the old connection is gone anyway.
    const other = await opened(client, socket, page([row(1)], { count: 1 }));
    socket().drop();
    await until(() => sockets.instances.length === 2);
    socket().open();
    await other.close();
    expect(socket().sent.map((f) => f.event)).toEqual(['shop.Product.list']);
    socket().reply(page([row(1)], { count: 1, seq: 0 }));
    await tick();
    expect(socket().last()).toMatchObject({ event: 'shop.Product.unsubscribe', data: { room: ROOM } });

    // And when that read fails (busy): the room the list held on this connection is left.
    const third = await opened(client, socket, page([row(1)], { count: 1 }));
    socket().receive(frame(2, 1, [])); // a gap: read again
    await third.close();
    const sent = socket().sent.length;
    socket().fail({ code: 'rate_limited', message: 'slow down' }, 'shop.Product.list');
    await tick(20);
    expect(socket().sent.slice(sent)).toEqual([expect.objectContaining({ event: 'shop.Product.unsubscribe', data: { room: ROOM } })]);
  });

  it('after a reconnect it sends the live request again by itself and replaces rows and count', async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1), row(2)], { seq: 3 }));
    const changes = record(list);
    const iterator = list[Symbol.asyncIterator]();
    socket().drop();
    await until(() => sockets.instances.length === 2);
    socket().open();
    expect(socket().sent.map((f) => [f.event, f.data])).toEqual([['shop.Product.list', { filter: { status: 'open' }, limit: 3, live: true }]]);
    // The room was recreated on the server: its numbering starts again.
    socket().reply(page([row(2), row(4), row(5)], { count: 4, seq: 0 }));
    await tick();
    expect([ids(list.rows), list.count, list.seq]).toEqual([[2, 4, 5], 4, 0]);
    expect((await iterator.next()).value).toMatchObject({ reason: 'reload', count: 4, seq: 0 });
    socket().receive(frame(1, 2, [['remove', 0]]));
    expect(ids(list.rows)).toEqual([4, 5]);
    expect(changes).toEqual(['reload:2,4,5:4', 'frame:4,5:2']);
    // The old connection's room is not unsubscribed: the server forgot it with the connection.
    expect(requests(socket(), 'shop.Product.unsubscribe')).toEqual([]);
  });

  it('frames held from a lost connection are dropped: the next connection numbers its room afresh', async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1), row(2)], { seq: 0 }));
    socket().receive(frame(3, 2, [['remove', 0]])); // a gap: the page is read again...
    socket().receive(frame(4, 2, [['update', 0, row(1, 'stale')]])); // ...and this one waits for the reply,
    socket().drop(); //                                 which is lost with the connection
    await until(() => sockets.instances.length === 2);
    socket().open();
    expect(requests(socket())).toHaveLength(1); // the read is sent again, once
    socket().reply(page([row(1), row(2)], { seq: 3 }));
    await tick();
    expect([list.rows, list.seq]).toEqual([[row(1), row(2)], 3]); // not the old connection's frame 4
  });

  it('a live request made while disconnected waits for the connection', async () => {
    const { client, socket } = setup();
    const pending = client.model<Item>('shop.Product').live({ limit: 3 });
    expect(socket().sent).toEqual([]);
    socket().open();
    expect(socket().last().data).toEqual({ limit: 3, live: true });
    socket().reply(page([]));
    await tick();
    expect((await pending).rows).toEqual([]);
  });

  it('a refused reload ends the list: error event, the iterator throws, it is not asked again', async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const list = await opened(client, socket, page([row(1)], { count: 1 }));
    const errors: string[] = [];
    list.on('error', (e) => errors.push(e.code));
    const iterator = list[Symbol.asyncIterator]();
    socket().drop();
    await until(() => sockets.instances.length === 2);
    socket().open();
    socket().fail({ code: 'forbidden', message: 'You may not list Product' }, 'shop.Product.list');
    await tick();
    await expect(iterator.next()).rejects.toMatchObject({ code: 'forbidden' });
    expect([errors, list.closed, ids(list.rows)]).toEqual([['forbidden'], true, [1]]);
    socket().drop();
    await until(() => sockets.instances.length === 3);
    socket().open();
    expect(socket().sent).toEqual([]);
  });

  it('a busy reload (rate_limited) is asked again; a first read refused rejects live()', async () => {
    const { client, socket } = setup({ reconnect: { minDelay: 5, maxDelay: 5 } });
    socket().open();
    const list = await opened(client, socket, page([row(1)], { count: 1 }));
    socket().receive(frame(2, 1, [])); // a gap
    socket().fail({ code: 'rate_limited', message: 'slow down' }, 'shop.Product.list');
    await tick();
    await until(() => requests(socket()).length === 3);
    socket().reply(page([row(3)], { count: 1, seq: 2 }));
    await tick();
    expect([ids(list.rows), list.closed]).toEqual([[3], false]);

    const refused = client.model('shop.Product').live({ filter: { secret: 'x' } } as never);
    socket().fail({ code: 'bad_request', message: 'secret cannot be filtered' });
    await expect(refused).rejects.toMatchObject({ code: 'bad_request' });
    const malformed = client.model('shop.Product').live({});
    socket().reply({ page: 1, limit: 3, count: 0, rows: [] }); // no room: not a live reply
    await expect(malformed).rejects.toMatchObject({ code: 'internal' });
  });

  it('frames are not pushes: a model subscription does not get them; client.on(message) does', async () => {
    const { client, socket } = setup();
    socket().open();
    const pending = client.model('shop.Product').subscribe();
    socket().reply({ room: 'shop.Product' });
    await tick();
    const sub = await pending;
    const pushes: string[] = [];
    sub.on('*', (p) => pushes.push(p.event));
    const messages: string[] = [];
    client.on('message', (m) => messages.push(m.event));
    const list = await opened(client, socket, page([row(1)], { count: 1 }));
    socket().receive(frame(1, 0, [['remove', 0]]));
    await tick();
    expect([pushes, messages, list.count]).toEqual([[], [EVENT], 0]);
  });

  it('close() of the client ends every live list', async () => {
    const { client, socket } = setup();
    socket().open();
    const list = await opened(client, socket, page([]));
    const iterator = list[Symbol.asyncIterator]();
    await client.close();
    expect(list.closed).toBe(true);
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });

  it('works with custom frame keys', async () => {
    const { client, socket } = setup({ keys: { eventKey: 'type', dataKey: 'payload' } });
    socket().open();
    const pending = client.model<Item>('shop.Product').live({});
    const request = socket().sent[0];
    expect(request).toEqual({ type: 'shop.Product.list', id: request.id, payload: { live: true } });
    socket().receive({ type: request.type, id: request.id, payload: page([row(1)], { count: 1 }) });
    const list = await pending;
    socket().receive({ type: EVENT, room: ROOM, seq: 1, change: 'c1', count: 0, ops: [['remove', 0]] });
    expect(list.rows).toEqual([]);
  });
});
