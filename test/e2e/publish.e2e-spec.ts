// PROTOCOL.md section 7: POST /api/publish, signed with HMAC-SHA256 over "<t>.<raw body>".
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { BindingsModule, signPublish, verifyPublishSignature } from '../../lib/index.js';
import { signPublish as signStandalone } from '../../lib/publish/sign.js';
import { Category, Product } from '../fixtures/entities.js';
import { createApp, platform, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

const SECRET = 'shh-this-is-shared';

let t: TestApp;
beforeAll(async () => {
  t = await startApp([Product, Category], { publish: { secret: SECRET }, limits: { maxPayload: 64 * 1024 } });
});
afterAll(() => t.close());

const sockets: TestSocket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});
async function member(channel: string): Promise<TestSocket> {
  const socket = await TestSocket.open(t.ws);
  sockets.push(socket);
  await socket.request('channel.join', { channel });
  return socket;
}

/** Posts exactly `raw` (bytes as given) with the signature header, if any. */
async function post(raw: string | Buffer, signature?: string, base = t.http, path = '/api/publish'): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(signature === undefined ? {} : { 'x-bindings-signature': signature }) },
    body: typeof raw === 'string' ? raw : new Uint8Array(raw),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
const published = (socket: TestSocket, event: string) => socket.frames.filter((f) => f.event === event);

describe('signPublish', () => {
  it('is t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, from the package and from nest-bindings/publish alike', () => {
    const body = '{"room":"x","event":"e","data":1}';
    const header = signPublish(SECRET, body, 1_700_000_000_999);
    const hex = createHmac('sha256', SECRET).update(`1700000000.${body}`).digest('hex');
    expect(header).toBe(`t=1700000000,v1=${hex}`);
    expect(signStandalone(SECRET, Buffer.from(body), new Date(1_700_000_000_000))).toBe(header);
    expect(verifyPublishSignature(header, Buffer.from(body), [SECRET], 1_700_000_030_000)).toEqual({ t: 1700000000, v1: hex });
    expect(verifyPublishSignature(header, Buffer.from(body), [SECRET], 1_700_000_061_000).problem).toBe('expired');
    expect(verifyPublishSignature(header, Buffer.from(body), ['other'], 1_700_000_000_000).problem).toBe('mismatch');
    expect(verifyPublishSignature('v1=abc', Buffer.from(body), [SECRET]).problem).toBe('malformed');
    expect(verifyPublishSignature(undefined, Buffer.from(body), [SECRET]).problem).toBe('missing');
  });

  const openssl = (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  // The README's shell recipe, run as written: the line that computes $sig.
  const readmeLine = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    .split('\n')
    .find((line) => line.includes('openssl dgst'));

  it(`the README's openssl command makes the same signature, and the server accepts it${openssl ? '' : ' (openssl is not installed: only the command is checked)'}`, async () => {
    expect(readmeLine).toMatch(/^sig=\$\(printf '%s' "\$t\.\$body" \| openssl dgst -sha256 -hmac "\$SECRET"/);
    if (!openssl) return;
    const socket = await member('shell');
    const body = '{"channel":"shell","event":"news","data":{"title":"Déjà vu: ünïcode & \\"quotes\\""}}';
    const now = Math.floor(Date.now() / 1000);
    const sig = execFileSync('sh', ['-c', `${readmeLine}\nprintf '%s' "$sig"`], { env: { ...process.env, SECRET, body, t: String(now) } }).toString();
    expect(`t=${now},v1=${sig}`).toBe(signPublish(SECRET, body, now * 1000));
    expect(await post(body, `t=${now},v1=${sig}`)).toEqual({ status: 200, body: { delivered: 1 } });
    expect(await socket.waitFor((f) => f.event === 'news')).toEqual({ event: 'news', room: 'channel:shell', data: { title: 'Déjà vu: ünïcode & "quotes"' } });
  });
});

describe('POST /api/publish', () => {
  it('delivers {event, room, data} to every socket of a channel and answers {delivered}', async () => {
    const [a, b, other] = [await member('news'), await member('news'), await member('sports')];
    const body = JSON.stringify({ channel: 'news', event: 'headline', data: { text: 'hello' } });
    expect(await post(body, signPublish(SECRET, body))).toEqual({ status: 200, body: { delivered: 2 } });
    for (const socket of [a, b])
      expect(await socket.waitFor((f) => f.event === 'headline')).toEqual({ event: 'headline', room: 'channel:news', data: { text: 'hello' } });
    await settle(50);
    expect(published(other, 'headline')).toEqual([]);
  });

  it('delivers to any room by name (here the model room of shop.Product); an empty room answers delivered: 0', async () => {
    const socket = await TestSocket.open(t.ws);
    sockets.push(socket);
    expect((await socket.request('shop.Product.subscribe', {})).data).toEqual({ room: 'shop.Product', seq: 0 });
    const body = JSON.stringify({ room: 'shop.Product', event: 'maintenance', data: null });
    expect(await post(body, signPublish(SECRET, body))).toEqual({ status: 200, body: { delivered: 1 } });
    expect(await socket.waitFor((f) => f.event === 'maintenance')).toEqual({ event: 'maintenance', room: 'shop.Product', data: null });
    const nobody = JSON.stringify({ room: 'nobody.here', event: 'x', data: 1 });
    expect(await post(nobody, signPublish(SECRET, nobody))).toEqual({ status: 200, body: { delivered: 0 } });
  });

  it('checks the raw bytes: whitespace and key order as sent, escapes as sent', async () => {
    const socket = await member('raw');
    const body = Buffer.from('{\n  "event" : "spaced",\n  "data" : {"a": "\\u00e9", "b": [1, 2]},\n  "channel" : "raw"\n}\n', 'utf8');
    expect(await post(body, signPublish(SECRET, body))).toEqual({ status: 200, body: { delivered: 1 } });
    expect(await socket.waitFor((f) => f.event === 'spaced')).toEqual({ event: 'spaced', room: 'channel:raw', data: { a: 'é', b: [1, 2] } });
  });

  it('refuses with 401 and sends nothing: no signature, a wrong secret, a tampered body, an old or future timestamp, a malformed header', async () => {
    const socket = await member('guarded');
    const body = JSON.stringify({ channel: 'guarded', event: 'alert', data: { level: 1 } });
    const tampered = JSON.stringify({ channel: 'guarded', event: 'alert', data: { level: 9 } });
    const now = Date.now();
    const good = signPublish(SECRET, body, now);
    const hex = good.split('v1=')[1];
    const refusals: Array<[string, string | Buffer, string | undefined]> = [
      ['missing', body, undefined],
      ['wrong secret', body, signPublish('not-the-secret', body, now)],
      ['tampered body', tampered, good],
      ['body with one more byte', `${body} `, good],
      ['61 seconds old (replayed)', body, signPublish(SECRET, body, now - 61_000)],
      ['61 seconds ahead', body, signPublish(SECRET, body, now + 61_000)],
      ['old timestamp pasted on a fresh signature', body, `t=${Math.floor(now / 1000) - 120},v1=${hex}`],
      ['fresh timestamp pasted on an old signature', body, `t=${Math.floor(now / 1000)},v1=${signPublish(SECRET, body, now - 120_000).split('v1=')[1]}`],
      ['no timestamp', body, `v1=${hex}`],
      ['not hex', body, `t=${Math.floor(now / 1000)},v1=xyz`],
      ['empty', body, ''],
    ];
    for (const [why, raw, signature] of refusals) {
      const res = await post(raw, signature);
      expect([why, res.status, res.body?.error?.code]).toEqual([why, 401, 'unauthorized']);
    }
    await settle(50);
    expect(published(socket, 'alert')).toEqual([]);
    // Within the window, a slightly old signature is fine.
    expect((await post(body, signPublish(SECRET, body, now - 30_000))).status).toBe(200);
    await socket.waitFor((f) => f.event === 'alert');
  });

  it('accepts each signed request once: a replay within the window answers 401 and sends nothing, concurrent copies too', async () => {
    const socket = await member('once');
    const body = JSON.stringify({ channel: 'once', event: 'pay', data: { amount: 10 } });
    const signedAt = Date.now();
    const signature = signPublish(SECRET, body, signedAt);
    expect(await post(body, signature)).toEqual({ status: 200, body: { delivered: 1 } });
    const replay = await post(body, signature);
    expect([replay.status, replay.body.error.code, replay.body.error.message]).toEqual([401, 'unauthorized', expect.stringContaining('already accepted')]);
    // Five copies of another signed request at once: exactly one goes through.
    const other = JSON.stringify({ channel: 'once', event: 'pay', data: { amount: 20 } });
    const otherSignature = signPublish(SECRET, other);
    const statuses = (await Promise.all(Array.from({ length: 5 }, () => post(other, otherSignature)))).map((res) => res.status).sort();
    expect(statuses).toEqual([200, 401, 401, 401, 401]);
    await settle(100);
    expect(published(socket, 'pay').map((f) => f.data.amount)).toEqual([10, 20]);
    // The same body signed at another second is another request (the second before the first
    // signature's: Date.now() - 1000 would be that same second when the clock crossed one meanwhile).
    expect((await post(body, signPublish(SECRET, body, signedAt - 1000))).status).toBe(200);
  });

  it('refuses a timestamp more than 5 seconds ahead of the server clock, and accepts one up to 4 seconds ahead', async () => {
    const socket = await member('ahead');
    const body = JSON.stringify({ channel: 'ahead', event: 'tick', data: 1 });
    for (const ahead of [6_000, 10_000, 59_000]) {
      const res = await post(body, signPublish(SECRET, body, Date.now() + ahead));
      expect([ahead, res.status, res.body.error.code]).toEqual([ahead, 401, 'unauthorized']);
    }
    await settle(50);
    expect(published(socket, 'tick')).toEqual([]);
    expect((await post(body, signPublish(SECRET, body, Date.now() + 4_000))).status).toBe(200);
    await socket.waitFor((f) => f.event === 'tick');
  });

  it('a signed body that is not a publish request answers 400; an oversized body 413', async () => {
    const cases = [
      'not json',
      '[]',
      '{"event":"e"}',
      '{"room":"a","channel":"b","event":"e"}',
      '{"room":"a"}',
      '{"room":"a","event":""}',
      '{"room":"a","event":"e","extra":1}',
      '{"channel":"","event":"e"}',
    ];
    for (const raw of cases) {
      const res = await post(raw, signPublish(SECRET, raw));
      expect([raw, res.status, res.body.error.code]).toEqual([raw, 400, 'bad_request']);
    }
    const huge = JSON.stringify({ room: 'a', event: 'e', data: 'x'.repeat(70 * 1024) });
    const res = await post(huge, signPublish(SECRET, huge));
    expect([res.status, res.body.error.code]).toEqual([413, 'too_large']);
  });

  it('is not served without the publish option (404), and other routes keep their parsed bodies', async () => {
    const plain = await startApp([Product, Category]);
    try {
      const body = JSON.stringify({ room: 'a', event: 'e' });
      expect((await post(body, signPublish(SECRET, body), plain.http)).status).toBe(404);
    } finally {
      await plain.close();
    }
    const created = await fetch(`${t.http}/api/shop/Product`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: `Published ${Date.now()}`, price: 1 }),
    });
    expect(created.status).toBe(201);
  });

  it('works under a global prefix (the raw body is taken at /<global prefix>/api/publish), with secrets being rotated', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ type: 'better-sqlite3', database: ':memory:', entities: [Product, Category], synchronize: true }),
        BindingsModule.forRoot({ publish: { secret: ['old-secret', SECRET] } }),
      ],
    }).compile();
    const app = createApp(moduleRef, { logger: ['error'] });
    app.setGlobalPrefix('v1');
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    try {
      const socket = await TestSocket.open(`${base.replace('http', 'ws')}/ws`);
      await socket.request('channel.join', { channel: 'prefixed' });
      const body = ' {"channel":"prefixed","event":"hi","data":[]} ';
      expect(await post(body, signPublish(SECRET, body), base, '/v1/api/publish')).toEqual({ status: 200, body: { delivered: 1 } });
      // The same body signed anew (another second) with the old secret; then a replay of a
      // rotation header (both secrets) with one v1 left out is still the same request: refused.
      const rotated = `${signPublish('old-secret', body, Date.now() - 2000)},v1=${signPublish(SECRET, body, Date.now() - 2000).split('v1=')[1]}`;
      // Express also routes the path with a trailing slash (and the raw body is taken there too); Fastify does not route it by default.
      expect(await post(body, rotated, base, platform === 'express' ? '/v1/api/publish/' : '/v1/api/publish')).toEqual({ status: 200, body: { delivered: 1 } });
      const [stamp, oldOnly, newOnly] = rotated.split(',');
      for (const replay of [`${stamp},${oldOnly}`, `${stamp},${newOnly}`, rotated])
        expect((await post(body, replay, base, '/v1/api/publish')).status).toBe(401);
      expect((await post(body, signPublish('unknown', body), base, '/v1/api/publish')).status).toBe(401);
      await socket.waitFor((f) => f.event === 'hi');
      socket.close();
    } finally {
      await app.close();
    }
  });
});
