// The standalone server's /admin page in Debian's Chromium (playwright-core): the server is
// the README's command, the page shows its connections, channels and rates and follows them
// live through the server's WebSocket. Chromium is installed by scripts/ensure-chromium.sh
// when missing; if it still is, this test fails (never skips).
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { keepScreenshot, launchChromium } from '../fixtures/chromium.js';
import { signRequest, signToken } from '../../lib/standalone/backend.js';
import { settle, TestSocket } from '../fixtures/harness.js';
import { projectDir, removeDir, startServer, type ServerProcess } from '../standalone/server-process.js';

const SECRET = 'standalone-admin-secret-0123';

let dir: string;
let server: ServerProcess;
let browser: Browser;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  dir = projectDir();
  writeFileSync(join(dir, 'bindings.json'), JSON.stringify({ admin: { users: ['ops'] }, channels: { overrides: { 'alerts:*': { presence: false } } } }));
  server = await startServer(dir, { BINDINGS_SECRET: SECRET });
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await browser?.close();
  await server?.stop();
  removeDir(dir);
});

const token = (user: string, channels: string[] = []) => signToken(SECRET, { user, channels, expiresIn: 600 });
async function member(user: string, channel: string): Promise<TestSocket> {
  const socket = await TestSocket.open(`${server.ws}?token=${token(user, [channel])}`);
  sockets.push(socket);
  await socket.request('channel.join', { channel });
  return socket;
}
let sent = 0;
async function post(channel: string): Promise<void> {
  const body = JSON.stringify({ channel, message: { text: `update ${++sent}` }, user: 'bot' });
  const res = await fetch(`${server.http}/api/message`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-bindings-signature': signRequest(SECRET, 'POST', '/api/message', body) },
    body,
  });
  expect(res.status).toBe(200);
}

it('shows connections, channels with their members and message rates, refreshed live; tokens of others are refused', async () => {
  for (const user of ['ana', 'ben', 'cleo', 'dev']) await member(user, 'lobby');
  await member('ana', 'lobby'); // a second socket of ana: one user, two sockets
  for (const user of ['ben', 'cleo']) await member(user, 'support');
  await member('eve', 'alerts:disk');

  // A page of its own: Chromium asks that one for a favicon too, which is no concern of the admin page.
  const other = await browser.newPage();
  expect((await other.goto(`${server.http}/admin?token=${token('ana')}`))!.status()).toBe(403);
  await other.close();

  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => message.type() === 'error' && problems.push(`${message.text()} ${message.location().url}`));

  await page.goto(`${server.http}/admin?token=${token('ops')}`);
  await page.locator('#status.live').waitFor({ timeout: 10_000 });
  // The token leaves the address bar (and the history) at once.
  expect(page.url()).toBe(`${server.http}/admin`);
  const row = (channel: string) => page.locator('#rows tr', { hasText: channel });
  await row('lobby').waitFor();
  expect(await row('lobby').locator('td').allTextContents()).toEqual(['lobby', '4', '5', '', '100']);
  expect(await row('support').locator('td.num').allTextContents()).toEqual(['2', '2', '100']);
  expect(await row('alerts:disk').textContent()).toContain('no presence');
  expect(await page.locator('#channels').textContent()).toBe('3');

  // Traffic shows up without reloading: messages over more than one 10-second point of the chart.
  const messages = async () => Number(await page.locator('#messages').textContent());
  const before = await messages();
  for (let i = 0; i < 24; i++) {
    await post(i % 3 === 0 ? 'support' : 'lobby');
    await settle(500);
  }
  await page.waitForFunction((n) => Number(document.getElementById('messages')!.textContent) >= n, before + 24, { timeout: 5000 });
  const late = await member('fred', 'lobby');
  await page.waitForFunction(() => document.querySelector('#rows tr td.num')?.textContent === '5', undefined, { timeout: 5000 });
  expect(await page.locator('#chart polyline').count()).toBe(3);
  expect(problems).toEqual([]);

  // The picture in the README (docs/standalone-admin.png): written when missing, or with UPDATE_SCREENSHOT=1.
  const shot = join(dir, 'admin.png');
  await page.screenshot({ path: shot, fullPage: true });
  expect(statSync(shot).size).toBeGreaterThan(20_000);
  keepScreenshot(shot, 'standalone-admin.png');

  // The page follows the server: a connection that closes leaves the figures.
  late.close();
  await page.waitForFunction(() => document.querySelector('#rows tr td.num')?.textContent === '4', undefined, { timeout: 5000 });
  await page.close();
}, 90_000);
