import { bearerAuth, cookieAuth, queryTokenAuth, signToken, type SampleUser } from '../../sample/auth.examples.js';
import type { BindingsModuleOptions } from '../../lib/index.js';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { http, startApp, TestSocket } from '../fixtures/harness.js';

// The README's three authenticate examples, on the WebSocket upgrade and over REST.
const secret = 's3cret';
const ada: SampleUser = { id: 1, name: 'ada' };
const token = signToken(secret, ada);
const forged = signToken('other secret', ada);

async function check(
  authenticate: BindingsModuleOptions['authenticate'],
  good: { headers?: Record<string, string>; query?: string },
  bad: { headers?: Record<string, string>; query?: string },
) {
  const t = await startApp([Product, Category, NoteEntity], { authenticate, anonymous: false });
  try {
    const socket = await TestSocket.open(t.ws + (good.query ?? ''), good.headers);
    expect((await socket.request('ping', 1)).data).toBe(1);
    socket.close();
    await expect(TestSocket.open(t.ws + (bad.query ?? ''), bad.headers)).rejects.toMatchObject({ status: 401 });
    await expect(TestSocket.open(t.ws)).rejects.toMatchObject({ status: 401 });
    expect((await http(t.http, 'GET', `/api/shop/Product${good.query ?? ''}`, undefined, good.headers)).status).toBe(200);
    expect((await http(t.http, 'GET', `/api/shop/Product${bad.query ?? ''}`, undefined, bad.headers)).status).toBe(401);
  } finally {
    await t.close();
  }
}

it('reads a bearer token', () =>
  check(bearerAuth(secret), { headers: { authorization: `Bearer ${token}` } }, { headers: { authorization: `Bearer ${forged}` } }));

it('reads a session cookie', () =>
  check(cookieAuth(new Map([['abc', ada]])), { headers: { cookie: 'theme=dark; sid=abc' } }, { headers: { cookie: 'sid=nope' } }));

it('reads a query token', async () => {
  const t = await startApp([Product, Category, NoteEntity], { authenticate: queryTokenAuth(secret), anonymous: false });
  try {
    const socket = await TestSocket.open(`${t.ws}?token=${token}`);
    expect((await socket.request('ping', 2)).data).toBe(2);
    socket.close();
    await expect(TestSocket.open(`${t.ws}?token=${forged}`)).rejects.toMatchObject({ status: 401 });
    expect((await http(t.http, 'GET', `/api/shop/Product?token=${token}`)).status).toBe(200);
    expect((await http(t.http, 'GET', `/api/shop/Product?token=${forged}`)).status).toBe(401);
  } finally {
    await t.close();
  }
});
