import type { NestExpressApplication } from '@nestjs/platform-express';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WsTransport } from '../../lib/transports/ws/ws-transport.js';
import { buildClientEsm, ROOT, tempDir } from '../fixtures/client-build.js';

/**
 * The kanban sample in Debian's Chromium (playwright-core): two windows of the page, which
 * imports nest-bindings/client; a change in one shows in the other; the page shows the
 * connection state and catches up after the server drops it. Chromium is installed by
 * scripts/ensure-chromium.sh when missing; if it still is, this test fails (never skips).
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SCREENSHOT = join(ROOT, 'docs', 'kanban.png');

let app: NestExpressApplication;
let browser: Browser;
let base: string;
let work: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    try {
      execFileSync('bash', [join(ROOT, 'scripts/ensure-chromium.sh')], { stdio: 'inherit' });
    } catch {
      throw new Error(`No Chromium at ${CHROMIUM} and scripts/ensure-chromium.sh could not install it: the browser test cannot run`);
    }
  }
  work = tempDir('nb-kanban-');
  process.env.SAMPLE_DB = join(work, 'kanban.sqlite'); // read when the sample's module is loaded
  const clientDir = await buildClientEsm(join(work, 'client'));
  const { createSampleApp } = await import('../../sample/server.js');
  app = await createSampleApp({ clientDir, logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 30_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

const card = (page: Page, title: string, column?: string) => page.locator(`${column ? `[data-column=${column}] ` : ''}.card`, { hasText: title });

async function openBoard(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1180, height: 400 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
  await page.goto(`${base}/`);
  await page
    .locator('#state.open')
    .waitFor({ timeout: 10_000 })
    .catch((error) => {
      throw new Error(`the page did not connect: ${problems.join('; ') || error.message}`);
    });
  await card(page, 'Publish to npm', 'todo').waitFor();
  return page;
}

it("two windows show each other's changes live, and catch up after the connection drops", async () => {
  const a = await openBoard();
  const b = await openBoard();
  expect(await a.locator('#state').textContent()).toBe('live');
  expect(await a.locator('.card').count()).toBe(3);

  // A moves a card to the right (kanban.Card.move); B sees it move.
  await card(a, 'Publish to npm').locator('button.right').click();
  await card(b, 'Publish to npm', 'doing').waitFor({ timeout: 5000 });
  // B adds a card; A sees it.
  await b.locator('#add input').fill('Ship the client');
  await b.locator('#add button').click();
  await card(a, 'Ship the client', 'todo').waitFor({ timeout: 5000 });

  // The server drops every socket without a close frame; a change is made while the pages
  // reconnect (their first attempt waits at least 250 ms), and reaches both afterwards.
  for (const ws of app.get(WsTransport).connections.keys()) ws.terminate();
  await a.locator('#state.reconnecting').waitFor({ timeout: 5000 });
  const list = await (await fetch(`${base}/api/kanban/Card?filter=${encodeURIComponent(JSON.stringify({ title: 'Write the README' }))}`)).json();
  const renamed = await fetch(`${base}/api/kanban/Card/${list.rows[0].id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'Write the README (renamed while away)' }),
  });
  expect(renamed.status).toBe(200);
  for (const page of [a, b]) {
    await card(page, 'renamed while away', 'doing').waitFor({ timeout: 5000 });
    await page.locator('#state.open').waitFor({ timeout: 5000 });
    expect(await page.locator('#log').textContent()).toMatch(/connection open[\s\S]*connection reconnecting/); // newest first
  }

  // The picture in the README (docs/kanban.png): written when missing, or with UPDATE_SCREENSHOT=1.
  const shot = join(work, 'kanban.png');
  await b.screenshot({ path: shot });
  expect(statSync(shot).size).toBeGreaterThan(10_000);
  if (!existsSync(SCREENSHOT) || process.env.UPDATE_SCREENSHOT === '1') {
    mkdirSync(join(ROOT, 'docs'), { recursive: true });
    copyFileSync(shot, SCREENSHOT);
  }

  // A deletes the new card; it disappears from B.
  await card(a, 'Ship the client').locator('button.remove').click();
  await card(b, 'Ship the client').waitFor({ state: 'detached', timeout: 5000 });
  expect(await b.locator('.card').count()).toBe(3);
}, 60_000);
