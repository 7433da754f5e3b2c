import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { buildClientCjs, buildClientEsm, ROOT, runNode, tempDir } from '../fixtures/client-build.js';
import { startApp, type TestApp } from '../fixtures/harness.js';

/**
 * nest-bindings/client as a package: browser-safe sources, the `./client` export with an
 * ESM and a CommonJS build, each loaded for real by Node and talking to a real server.
 */

const SOURCES = join(ROOT, 'lib/client');
/** Every module specifier of a JS/TS text: import/export ... from, import(), require(). */
const specifiers = (text: string) => [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)].map((m) => m[1]);

let t: TestApp;
beforeAll(async () => {
  t = await startApp([Product, Category, NoteEntity]);
});
afterAll(() => t.close());

describe('nest-bindings/client', () => {
  it('imports nothing but its own modules: no node:, ws, @nestjs or other packages; no Node globals', () => {
    const files = readdirSync(SOURCES).filter((f) => f.endsWith('.ts'));
    expect(files).toEqual(expect.arrayContaining(['index.ts', 'client.ts', 'subscription.ts', 'model.ts', 'errors.ts']));
    for (const file of files) {
      const text = readFileSync(join(SOURCES, file), 'utf8');
      for (const specifier of specifiers(text)) expect([file, specifier]).toEqual([file, expect.stringMatching(/^\.\/[\w-]+\.js$/)]);
      expect([file, /\b(process|Buffer|__dirname|require)\b[.(]/.test(text)]).toEqual([file, false]);
    }
    // The check itself sees the imports it must refuse.
    expect(specifiers(`import { x } from 'node:fs';\nimport 'ws';\nconst y = require("@nestjs/common"); await import('./a.js')`)).toEqual([
      'node:fs',
      'ws',
      '@nestjs/common',
      './a.js',
    ]);
  });

  it('is exported as ./client with import (ESM), require (CommonJS) and types, and shipped', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['./client']).toEqual({
      node: {
        import: { types: './dist/lib/client-node/index.d.ts', default: './dist/lib/client-node/index.js' },
        require: { types: './dist/cjs/client-node/index.d.ts', default: './dist/cjs/client-node/index.js' },
      },
      import: { types: './dist/lib/client/index.d.ts', default: './dist/lib/client/index.js' },
      require: { types: './dist/cjs/client/index.d.ts', default: './dist/cjs/client/index.js' },
      types: './dist/lib/client/index.d.ts',
      default: './dist/lib/client/index.js',
    });
    expect(pkg.files).toEqual(expect.arrayContaining(['dist/lib', 'dist/cjs']));
    expect(pkg.scripts.build).toContain('scripts/build-client-cjs.mjs');
  });

  it('builds as CommonJS without Node types, with only relative requires, and works through require()', async () => {
    const out = await buildClientCjs(join(tempDir('nb-cjs-'), 'client'));
    expect(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8'))).toEqual({ type: 'commonjs' });
    expect(existsSync(join(out, 'index.d.ts'))).toBe(true);
    for (const file of readdirSync(out).filter((f) => f.endsWith('.js'))) {
      for (const specifier of specifiers(readFileSync(join(out, file), 'utf8'))) expect(specifier).toMatch(/^\.\/[\w-]+\.js$/);
    }
    const script = join(out, '..', 'run.cjs');
    writeFileSync(
      script,
      `const { connect, BindingClientError } = require(process.env.CLIENT);
       const { WebSocket } = require(process.env.WS);
       (async () => {
         const client = connect(process.env.URL, { WebSocket });
         const pong = await client.request('ping', 'cjs');
         const created = await client.model('shop.Product').create({ name: 'from-cjs', price: 1 });
         const error = await client.model('shop.Product').retrieve(987654).catch((e) => ({ code: e.code, typed: e instanceof BindingClientError }));
         await client.close();
         console.log(JSON.stringify({ pong, name: created.name, error }));
       })().catch((e) => { console.error(e); process.exit(1); });`,
    );
    const output = await runNode(script, { CLIENT: out, WS: join(ROOT, 'node_modules/ws'), URL: t.ws });
    expect(JSON.parse(output)).toEqual({ pong: 'cjs', name: 'from-cjs', error: { code: 'not_found', typed: true } });
  });

  it('in Node 20 connects without being given a WebSocket class, through import and require of nest-bindings/client', async () => {
    // The built package (npm test builds first), resolved by its own name as an application would.
    expect(existsSync(join(ROOT, 'dist/lib/client-node/index.js'))).toBe(true);
    expect((globalThis as { WebSocket?: unknown }).WebSocket).toBeUndefined();
    const esm = join(ROOT, 'dist', `node-entry-${process.pid}.mjs`);
    const cjs = join(ROOT, 'dist', `node-entry-${process.pid}.cjs`);
    writeFileSync(
      esm,
      `import { connect } from 'nest-bindings/client';
       const client = connect(process.env.URL);
       const created = await client.model('shop.Product').create({ name: 'from-node-esm', price: 3 });
       await client.close();
       console.log(JSON.stringify({ name: created.name }));`,
    );
    writeFileSync(
      cjs,
      `const { connect } = require('nest-bindings/client');
       (async () => {
         const client = connect(process.env.URL);
         const pong = await client.request('ping', 'node-cjs');
         await client.close();
         console.log(JSON.stringify({ pong }));
       })().catch((e) => { console.error(e); process.exit(1); });`,
    );
    try {
      expect(JSON.parse(await runNode(esm, { URL: t.ws }))).toEqual({ name: 'from-node-esm' });
      expect(JSON.parse(await runNode(cjs, { URL: t.ws }))).toEqual({ pong: 'node-cjs' });
    } finally {
      rmSync(esm, { force: true });
      rmSync(cjs, { force: true });
    }
  });

  it('builds as ES modules (the browser build) and works through import()', async () => {
    const out = await buildClientEsm(join(tempDir('nb-esm-'), 'client'));
    for (const file of readdirSync(out).filter((f) => f.endsWith('.js'))) {
      for (const specifier of specifiers(readFileSync(join(out, file), 'utf8'))) expect(specifier).toMatch(/^\.\/[\w-]+\.js$/);
    }
    const script = join(out, '..', 'run.mjs');
    writeFileSync(
      script,
      `import { pathToFileURL } from 'node:url';
       const { connect } = await import(pathToFileURL(process.env.CLIENT + '/index.js').href);
       const { WebSocket } = await import(pathToFileURL(process.env.WS + '/wrapper.mjs').href);
       const client = connect(process.env.URL, { WebSocket });
       const sub = await client.model('shop.Product').subscribe({});
       const first = (async () => { for await (const push of sub) return push; })();
       const created = await client.model('shop.Product').create({ name: 'from-esm', price: 2 });
       const push = await first;
       console.log(JSON.stringify({ event: push.event, name: push.data.name, id: push.data.id === created.id }));
       await client.close();`,
    );
    const output = await runNode(script, { CLIENT: out, WS: join(ROOT, 'node_modules/ws'), URL: t.ws });
    expect(JSON.parse(output)).toEqual({ event: 'shop.Product.created', name: 'from-esm', id: true });
  });
});
