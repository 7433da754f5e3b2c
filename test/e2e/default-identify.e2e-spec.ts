import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Memo } from '../fixtures/actions-fixtures.js';
import { startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

/**
 * The default `identify` names users by their `id`. Users without one would all be named
 * "undefined" and share one connection budget and one presence identity, so such a user is
 * refused, with a log line that says to pass `identify`.
 */
let t: TestApp;
afterEach(async () => {
  jest.restoreAllMocks();
  await t?.close();
});

describe('the default identify', () => {
  it('refuses a user without an id (upgrade 500) and logs the fix', async () => {
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    t = await startApp([Memo], { authenticate: (req) => (req.headers['x-user'] ? { name: String(req.headers['x-user']) } : null) });
    await expect(TestSocket.open(t.ws, { 'x-user': 'ann' })).rejects.toMatchObject({ status: 500 });
    await expect(TestSocket.open(t.ws, { 'x-user': 'bob' })).rejects.toMatchObject({ status: 500 });
    expect(errors.mock.calls.map(([message]) => String(message))).toContainEqual(
      expect.stringContaining('the default identify names users by their id, and this user has none: pass identify(user) to BindingsModule.forRoot'),
    );
    // Anonymous sockets are not named, so they are served.
    const anonymous = await TestSocket.open(t.ws);
    expect((await anonymous.request('ping', 1)).data).toBe(1);
    anonymous.close();
  });

  it('names users by a string or numeric id', async () => {
    t = await startApp([Memo], {
      authenticate: (req) => (req.headers['x-id'] ? { id: Number(req.headers['x-id']) } : null),
      limits: { connectionsPerUser: 1 },
    });
    const first = await TestSocket.open(t.ws, { 'x-id': '7' });
    // One connection per user: the second socket of user 7 is refused, another user is not.
    await expect(TestSocket.open(t.ws, { 'x-id': '7' })).rejects.toMatchObject({ status: 429 });
    const other = await TestSocket.open(t.ws, { 'x-id': '8' });
    first.close();
    other.close();
  });
});
