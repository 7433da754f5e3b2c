import fc from 'fast-check';
import { IsOptional, IsString } from 'class-validator';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Binding } from '../../lib/index.js';
import { testDb } from '../fixtures/database.js';
import { settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { alice, as, authenticateFromHeader, bob, type TestUser } from '../fixtures/tenancy-fixtures.js';

// The cost of one request (PROTOCOL.md section 6): while one user sends the heaviest
// requests the default limits allow, another user's pings are answered within a bounded
// delay, no reply is `internal`, and (PostgreSQL) the pool keeps serving other users.
//
// Texts of 10,000 characters of 'a' are the worst case for the patterns below: every
// position starts a near miss of ~100 characters. Measured on the 2-core machine shared by 7
// test sessions (load average 9 to 13): worst ping 150-330 ms on SQLite, 185-305 ms on
// PostgreSQL, another user's list at most ~350 ms, at most 7 of PostgreSQL's 10 connections
// busy. The code before (no patternTotal, each pattern read straight on the database,
// `_` segments placed in text × segment steps) with the same requests: worst ping 2.9 s on
// SQLite and 1.4 s on PostgreSQL, and 9 of 48 requests answered `internal` ("too many SQL
// variables"). With only the pattern-read queue removed: worst ping 1.55 s on SQLite, and on
// PostgreSQL all 10 connections busy and another user's list 0.9 s. The bound below leaves
// three times the measured worst.
const PING_BOUND_MS = 1000;

@Binding<Page>({ app: 'cost', scope: (user: TestUser | null) => ({ tenant: user?.tenant ?? '\u0000none' }) })
@Entity()
class Page {
  @PrimaryGeneratedColumn() id: number;
  @Column('text') @IsString() tenant: string;
  @Column('text') @IsString() title: string;
  @Column('text') @IsOptional() @IsString() body: string;
}

const TEXT = 'a'.repeat(10_000);
const ROWS = 40;
// Patterns of 100 characters (limits.patternLength; also limits.patternTotal, the sum over one filter).
const UNDERSCORES = '%a' + '_'.repeat(97) + 'b'; // a near miss at every position: a `_` run after a `%`
const NEAR_MISS = '%' + 'a'.repeat(98) + 'b'; // a literal near miss after a `%`
const MANY_PERCENT = '%a'.repeat(49) + 'bb';
const HALF = (p: string) => p.slice(0, 49) + 'b';
const Q = 'a'.repeat(99) + 'b'; // a search `q` of 100 characters, contained nowhere
const values = (k: number) => Array.from({ length: 1000 }, (_, i) => 1000 + i * 100 + k); // no id of the table: every pattern is evaluated

/** The heaviest filters within every default limit. */
const heavyFilters = [
  { body: { ilike: UNDERSCORES } },
  { $or: [{ body: { like: HALF(UNDERSCORES) } }, { title: { ilike: HALF(NEAR_MISS) } }] },
  // 100 field conditions, 98 `in` lists of 1,000 values, nested 4 deep, the scope ANDed in by the server.
  {
    $or: [{ $and: [{ $or: [...Array.from({ length: 98 }, (_, k) => ({ id: { in: values(k) } })), { body: { ilike: NEAR_MISS } }] }, { title: { ne: 'x' } }] }],
  },
];
/** Filter rooms: each matches every write of alice's rows in memory, with the worst patterns. */
const roomFilters = [
  ...heavyFilters,
  ...[UNDERSCORES, NEAR_MISS, MANY_PERCENT].flatMap((p) => [
    { body: { ilike: p } },
    { title: { like: p } },
    { $or: [{ body: { like: HALF(p) } }, { title: { ilike: HALF(p) } }] },
  ]),
];

let t: TestApp;
beforeAll(async () => {
  // The byte bounds of subscriptions (memory-bounds suite) would refuse most of the heavy
  // user's filter rooms: raised here, so the CPU load is heavier than the defaults allow. The
  // frame rate is raised too: the other user's ping every 5 ms and list every 20 ms exceed
  // 100 frames a second once the server answers fast (rate limits have their own suite).
  t = await startApp([Page], {
    authenticate: authenticateFromHeader,
    anonymous: false,
    limits: { subscriptionBytesPerUser: 1 << 30, subscriptionBytesTotal: 1 << 30, framesPerSecond: 1_000_000, burst: 1_000_000 },
  });
  const repo = t.dataSource.getRepository(Page);
  await repo.save(Array.from({ length: ROWS }, (_, i) => ({ tenant: alice.tenant, title: TEXT, body: TEXT.slice(i) })));
  await repo.save({ tenant: bob.tenant, title: 'bob', body: 'bob' });
}, 60_000);
afterAll(() => t.close());

let nextId = 1_000_000;
/** A request whose reply may take long (it waits behind the others): no 3 s timeout, a broken server still fails the test. */
function ask(socket: TestSocket, event: string, data: unknown): Promise<any> {
  const id = nextId++;
  const reply = socket.waitFor((f) => f.id === id, 60_000).catch((error: Error) => ({ error: { code: 'no reply', message: error.message } }));
  socket.sendRaw(JSON.stringify({ event, id, data }));
  return reply;
}

/** Pings every few ms from `socket` until stopped; resolves with the worst delay seen. */
function pinger(socket: TestSocket, every = 5) {
  let worst = 0;
  let stopped = false;
  let sent = 0;
  const done = (async () => {
    while (!stopped) {
      const started = performance.now();
      const reply = await ask(socket, 'ping', ++sent);
      expect(reply.event).toBe('pong');
      worst = Math.max(worst, performance.now() - started);
      await new Promise((r) => setTimeout(r, every));
    }
    return worst;
  })();
  return {
    stop: () => ((stopped = true), done),
    get sent() {
      return sent;
    },
  };
}

it('answers another user within a bounded delay while one user sends the heaviest allowed requests', async () => {
  const heavy = await Promise.all(Array.from({ length: 6 }, () => TestSocket.open(t.ws, as(alice))));
  const victim = await TestSocket.open(t.ws, as(bob));
  const rooms = roomFilters;
  for (const s of heavy) for (const filter of rooms) expect((await s.request('cost.Page.subscribe', { filter })).error).toBeUndefined();

  // PostgreSQL: the connections in use, sampled; the pattern reads may hold a quarter of the pool.
  const pool = testDb === 'postgres' ? (t.dataSource.driver as any).master : undefined;
  let busiest = 0;
  const sampler = setInterval(() => pool && (busiest = Math.max(busiest, pool.totalCount - pool.idleCount)), 2);
  const ping = pinger(victim);
  // On PostgreSQL, another user's read also goes through while the pattern reads run.
  let worstRead = 0;
  let reading = true;
  const reads = (async () => {
    while (reading) {
      const started = performance.now();
      const reply = await ask(victim, 'cost.Page.list', { filter: { title: 'bob' } });
      expect(reply.data.count).toBe(1);
      worstRead = Math.max(worstRead, performance.now() - started);
      await settle(20);
    }
  })();

  // Waves for at least three seconds: 6 sockets send 8 requests each at once (lists,
  // searches, and a write that every room matches), then the next wave when all are answered.
  const answered: any[] = [];
  const started = Date.now();
  for (let wave = 0; Date.now() - started < 3000; wave++) {
    const replies = heavy.flatMap((s, k) => [
      ask(s, 'cost.Page.list', { filter: heavyFilters[(wave + k) % heavyFilters.length] }),
      ask(s, 'cost.Page.search', { q: Q, filter: heavyFilters[(wave + k + 1) % heavyFilters.length] }),
      ask(s, 'cost.Page.search', { q: Q }),
      ask(s, 'cost.Page.list', { filter: { body: { ilike: UNDERSCORES } }, order: { title: 'DESC' } }),
      ask(s, 'cost.Page.update', { id: 1 + ((wave * 4 + k) % ROWS), body: TEXT.slice(1 + (wave % 100)) + 'x' }),
      ask(s, 'cost.Page.list', { filter: rooms[(wave + k) % rooms.length], limit: 100 }),
      ask(s, 'cost.Page.search', { q: Q.slice(1), filter: rooms[(wave + k + 5) % rooms.length] }),
      ask(s, 'cost.Page.list', { filter: rooms[(wave + k + 7) % rooms.length], order: { body: 'ASC' } }),
    ]);
    answered.push(...(await Promise.all(replies)));
  }
  const worstPing = await ping.stop();
  reading = false;
  await reads;
  clearInterval(sampler);

  console.log(
    `request-cost (${testDb}): ${answered.length} heavy requests, ${ping.sent} pings, worst ping ${worstPing.toFixed(0)} ms, worst read of another user ${worstRead.toFixed(0)} ms, busiest pool ${busiest}`,
  );
  const codes = answered.filter((r) => r.error).map((r) => r.error.code);
  expect(codes).toEqual([]); // every heavy request is valid: answered, never internal
  expect(answered.filter((r) => r.data?.rows).every((r) => r.data.count === 0)).toBe(true); // near misses everywhere
  expect(worstPing).toBeLessThan(PING_BOUND_MS);
  expect(worstRead).toBeLessThan(PING_BOUND_MS);
  // Never the whole pool: at most 2 pattern reads (a quarter of 10), the 6 sockets' writes and
  // the other user's read. Without the queue of pattern reads all 10 were busy for ~0.9 s.
  if (pool) expect(busiest).toBeLessThan(pool.options.max);
  for (const s of [...heavy, victim]) s.close();
}, 120_000);

it('refuses a request over patternLength, patternTotal or filterTerms with bad_request naming the field and the limit', async () => {
  const s = await TestSocket.open(t.ws, as(alice));
  const over: Array<[string, unknown, { field: string; constraint: string }]> = [
    ['cost.Page.list', { filter: { body: { ilike: `${UNDERSCORES}%` } } }, { field: 'body', constraint: 'patternLength' }],
    ['cost.Page.search', { q: `${Q}a` }, { field: 'q', constraint: 'patternLength' }],
    [
      'cost.Page.list',
      { filter: { body: { like: HALF(NEAR_MISS) }, title: { ilike: `%${HALF(NEAR_MISS)}` } } },
      { field: 'title', constraint: 'patternTotal' },
    ],
    ['cost.Page.subscribe', { filter: { $or: Array.from({ length: 101 }, (_, i) => ({ id: i })) } }, { field: 'id', constraint: 'filterTerms' }],
  ];
  for (const [event, data, detail] of over) {
    const reply = await ask(s, event, data);
    expect(reply.error).toMatchObject({ code: 'bad_request', details: [expect.objectContaining(detail)] });
  }
  expect((await ask(s, 'ping', 1)).event).toBe('pong'); // socket kept
  s.close();
});

// The largest shapes the limits allow, at random: every one is valid, so every reply is a
// success. Before, a filter of many `in` lists or of a long $or answered `internal`
// (SQLite: "too many SQL variables", "Expression tree is too large").
describe('filters at every limit at once', () => {
  const letter = fc.constantFrom('a', 'b', 'A', 'ä', '😀', ' ', "'", '"');
  const patternChar = fc.oneof(letter, fc.constantFrom('%', '_', '\\%', '\\_', '\\\\'));
  // A pattern never ends in a lone backslash: that one is a bad_request of its own.
  const pattern = (max: number) => fc.array(patternChar, { minLength: 1, maxLength: max }).map((cs) => cs.join('').slice(0, max));
  // Mostly long lists: ~90 of them hold more values than SQLite (32,766) and PostgreSQL (65,535)
  // take as separate parameters. Short values keep the frame under maxPayload (1 MiB).
  const ints = fc.array(fc.integer({ min: -99_999, max: 99_999 }), { minLength: 800, maxLength: 1000, size: 'max' });
  const strings = fc.array(fc.string({ maxLength: 6 }), { minLength: 800, maxLength: 1000, size: 'max' });
  const plainTerm = fc.oneof(
    { weight: 4, arbitrary: ints.map((v) => ({ id: { in: v } })) },
    { weight: 4, arbitrary: ints.map((v) => ({ id: { nin: v } })) },
    { weight: 4, arbitrary: strings.map((v) => ({ title: { in: v } })) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((v) => ({ tenant: { ne: v } })) },
    { weight: 1, arbitrary: fc.integer().map((v) => ({ id: { gte: v } })) },
    { weight: 1, arbitrary: fc.boolean().map((v) => ({ body: { isNull: v } })) },
  );

  /** Nests terms up to limits.filterDepth (4), alternating $or and $and. */
  function nest(terms: object[], cuts: number[], depth = 1): object {
    if (depth === 3 || terms.length <= 1) return terms.length === 1 ? terms[0] : { $and: terms };
    const parts: object[][] = [];
    const size = Math.max(1, Math.ceil(terms.length / (1 + (cuts[depth] % 3))));
    for (let i = 0; i < terms.length; i += size) parts.push(terms.slice(i, i + size));
    return { [depth % 2 ? '$or' : '$and']: parts.map((part) => nest(part, cuts, depth + 1)) };
  }

  const filter = fc
    .record({
      plain: fc.array(plainTerm, { minLength: 90, maxLength: 98 }),
      patterns: fc.array(fc.tuple(fc.constantFrom('title', 'body'), fc.constantFrom('like', 'ilike'), pattern(50)), { minLength: 1, maxLength: 2 }),
      cuts: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
    })
    .map(({ plain, patterns, cuts }) => {
      const pats = patterns.map(([field, op, p]) => ({ [field]: { [op]: p.endsWith('\\') && !p.endsWith('\\\\') ? `${p}x` : p } }));
      return nest([...plain, ...pats], cuts);
    });
  const q = fc.array(fc.oneof(letter, fc.constantFrom('%', '_', '\\')), { minLength: 1, maxLength: 100 }).map((cs) => cs.join('').slice(0, 100));

  it('answers list, search and subscribe with a success, never internal', async () => {
    const s = await TestSocket.open(t.ws, as(alice));
    await fc.assert(
      fc.asyncProperty(filter, q, async (f, text) => {
        for (const [event, data] of [
          ['cost.Page.list', { filter: f, limit: 100 }],
          ['cost.Page.search', { q: text, filter: f }],
          ['cost.Page.subscribe', { filter: f }],
          ['cost.Page.unsubscribe', { filter: f }],
        ] as const) {
          const reply = await ask(s, event, data);
          expect(reply.error).toBeUndefined();
        }
      }),
      { numRuns: 15 },
    );
    s.close();
  }, 120_000);
});
