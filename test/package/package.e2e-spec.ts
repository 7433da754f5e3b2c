import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The package as a user receives it: `npm pack` of this checkout (which builds on prepack),
 * unpacked into a fresh ES-module project like the one `nest new` makes, whose source is the
 * README's Quick start, taken from the README itself. The project compiles with tsc, starts,
 * and a client from the same tarball gets a push. The project's dependencies are links to
 * this checkout's node_modules (the tests run offline), never to its sources.
 */

const ROOT = process.cwd();
const run = promisify(execFile);
let work: string;
let server: ChildProcess | undefined;
/** What `npm pack` made, and where. */
let packed: { filename: string; files: Array<{ path: string }> };
let tarball: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'nb-package-'));
  // `npm pack` builds first (prepack), so a fresh clone never ships an empty package. Here the
  // build is already done (npm test builds before the suites), and building again while other
  // suites load dist/ could hand them half-written files: pack without scripts.
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], {
    cwd: ROOT,
    maxBuffer: 20 * 1024 * 1024,
    timeout: 180_000,
  });
  [packed] = JSON.parse(stdout.slice(stdout.indexOf('[')));
  tarball = join(work, packed.filename);
}, 180_000);
afterAll(() => {
  server?.kill();
  if (!process.env.KEEP_PACKAGE_TEST) rmSync(work, { recursive: true, force: true });
});

/** The code blocks of the README's Quick start, named by their first-line comment (`// app.module.ts`). */
function quickStartFiles(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Quick start');
  const end = readme.slice(start + 1).search(/\n#{1,3} /) + start + 1;
  const section = readme.slice(start, end);
  const files = new Map<string, string>();
  for (const [, code] of section.matchAll(/```ts\n([\s\S]*?)```/g)) {
    const name = /^\/\/ ([\w.-]+\.ts)\n/.exec(code)?.[1] ?? 'client.ts';
    files.set(name, code);
  }
  return files;
}

/** The packages of the README's install line (`npm install ...` in its "Install" section). */
function installLine(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Install'), readme.indexOf('## Quick start'));
  const line = /^npm install (.+)$/m.exec(section);
  if (!line) throw new Error('the README has no install line');
  return line[1].split(/\s+/).filter((name) => !name.startsWith('-'));
}

/**
 * node_modules as `npm install` would lay it out in a project made by `nest new` (which has
 * @nestjs/common, @nestjs/core, @nestjs/platform-express, reflect-metadata and rxjs) after the
 * README's install line: those packages and nest-bindings' own dependencies, as links to this
 * checkout's copies (the tests run offline). Nothing else: what the package or the Quick start
 * needs beyond them fails here. Their own dependencies resolve from their real folders.
 */
function linkDependencies(modules: string, extra: string[]): void {
  const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const names = new Set([
    ...installLine(),
    ...Object.keys(own.dependencies ?? {}),
    '@nestjs/common',
    '@nestjs/core',
    '@nestjs/platform-express',
    'reflect-metadata',
    'rxjs',
    ...extra,
  ]);
  names.delete('nest-bindings');
  // Only Node's types: the package's own declarations must need nothing else (no @types/ws).
  names.add('@types/node');
  for (const name of names) {
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describe('the packed package', () => {
  it('ships the built library, the client, the LICENSE and the docs the README links to, and no source maps', async () => {
    // The pack (in beforeAll) skipped prepack; a fresh clone relies on it to build.
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.prepack).toBe('npm run build');
    const paths: string[] = packed.files.map((file) => file.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'package.json',
        'LICENSE',
        'README.md',
        'dist/lib/index.js',
        'dist/lib/index.d.ts',
        'dist/lib/client/index.js',
        'dist/lib/client-node/index.js',
        'dist/cjs/client/index.js',
        'dist/cjs/client-node/index.js',
        'dist/lib/standalone/cli.js',
        'dist/lib/standalone/backend.js',
        'docs/standalone-admin.png',
        'docs/kanban.png',
        'docs/protocol.md',
        // The README's Python backend, as the standalone e2e suite runs it.
        'examples/python/backend.py',
      ]),
    );
    expect(paths.filter((path) => path.endsWith('.map'))).toEqual([]);
    expect(paths.filter((path) => /^(test|sample|bench|lib)\//.test(path))).toEqual([]);
    // Every relative link of the README resolves inside the package.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(((?!https?:|#)[^)\s]+)\)/g)].map((m) => m[1].split('#')[0]);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect([link, paths.includes(link.replace(/^\.\//, ''))]).toEqual([link, true]);

    const app = join(work, 'app');
    mkdirSync(join(app, 'src'), { recursive: true });
    mkdirSync(join(app, 'node_modules/nest-bindings'), { recursive: true });
    await run('tar', ['xzf', join(work, packed.filename), '-C', join(app, 'node_modules/nest-bindings'), '--strip-components=1']);
    // Fastify users add its platform (README, Install); ioredis is an optional peer and stays out.
    linkDependencies(join(app, 'node_modules'), ['@nestjs/platform-fastify']);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'quick-start', private: true, type: 'module' }));
    // The compiler settings of a project made by `nest new` (ES modules).
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'ES2023',
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          strictNullChecks: true,
          skipLibCheck: true,
          outDir: 'dist',
          rootDir: 'src',
          types: ['node'],
        },
        include: ['src'],
      }),
    );
    const files = quickStartFiles();
    expect([...files.keys()].sort()).toEqual(['app.module.ts', 'client.ts', 'main.ts', 'product.entity.ts']);
    for (const [name, code] of files) writeFileSync(join(app, 'src', name), code);
    // The same application on Fastify: the Quick start's main.ts with the Fastify adapter.
    const fastifyMain = files
      .get('main.ts')!
      .replace(
        "import { NestFactory } from '@nestjs/core';",
        "import { NestFactory } from '@nestjs/core';\nimport { FastifyAdapter } from '@nestjs/platform-fastify';",
      )
      .replace('NestFactory.create(AppModule)', 'NestFactory.create(AppModule, new FastifyAdapter())');
    expect(fastifyMain).toContain('new FastifyAdapter()');
    writeFileSync(join(app, 'src', 'main-fastify.ts'), fastifyMain);
    // The README's client is compiled too (typed rows), and run below against the server.
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, timeout: 120_000 }).catch((error) => {
      throw new Error(`the Quick start does not compile:\n${error.stdout}${error.stderr}`);
    });

    for (const [platform, main] of [
      ['express', 'dist/main.js'],
      ['fastify', 'dist/main-fastify.js'],
    ]) {
      const port = await freePort();
      // Each platform starts on a database of its own (the Quick start names its file).
      const cwd = join(app, platform);
      mkdirSync(cwd);
      server = spawn(process.execPath, [join(app, main)], {
        cwd,
        env: { ...process.env, NODE_OPTIONS: '', PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let log = '';
      server.stdout!.on('data', (chunk) => (log += chunk));
      server.stderr!.on('data', (chunk) => (log += chunk));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the Quick start app (${platform}) did not start:\n${log}`)), 30_000);
        const check = () => (log.includes('Serving shop.Product') && /successfully started/.test(log) ? (clearTimeout(timer), resolve()) : undefined);
        server!.stdout!.on('data', check);
        server!.once('exit', (code) => reject(new Error(`the Quick start app (${platform}) exited with ${code}:\n${log}`)));
      });

      // The README's client, pointed at this port: it subscribes, creates, and prints the push it got.
      const client = readFileSync(join(app, 'dist/client.js'), 'utf8')
        .replace('ws://127.0.0.1:3000/ws', `ws://127.0.0.1:${port}/ws`)
        .replace("console.log('new product', push.data)", '(console.log(JSON.stringify(push)), process.exit(0))');
      writeFileSync(join(app, 'dist/client-run.js'), client);
      const { stdout: pushed } = await run(process.execPath, ['dist/client-run.js'], { cwd: app, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 20_000 });
      expect([platform, JSON.parse(pushed)]).toEqual([
        platform,
        expect.objectContaining({ event: 'shop.Product.created', data: { id: 1, name: 'Lamp', price: 30, status: 'open' } }),
      ]);
      // REST answers on the same server.
      const listed = await (await fetch(`http://127.0.0.1:${port}/api/shop/Product`)).json();
      expect([platform, listed.count]).toEqual([platform, 1]);
      server.kill();
      await new Promise((resolve) => server!.once('exit', resolve));
      server = undefined;
    }

    // Asking for the Redis adapter without ioredis installed stops start-up with the fix.
    writeFileSync(
      join(app, 'dist/redis-without-ioredis.js'),
      `import 'reflect-metadata';
       import { Module } from '@nestjs/common';
       import { NestFactory } from '@nestjs/core';
       import { TypeOrmModule } from '@nestjs/typeorm';
       import { BindingsModule } from 'nest-bindings';
       import { Product } from './product.entity.js';
       class AppModule {}
       Module({ imports: [
         TypeOrmModule.forRoot({ type: 'better-sqlite3', database: ':memory:', autoLoadEntities: true, synchronize: true }),
         TypeOrmModule.forFeature([Product]),
         BindingsModule.forRoot({ adapter: { redis: 'redis://127.0.0.1:1' } }),
       ] })(AppModule);
       await NestFactory.create(AppModule, { logger: false, abortOnError: false }).then(
         () => console.log('started'),
         (error) => console.log(error.name + ': ' + error.message),
       );
       process.exit(0);`,
    );
    const { stdout: refused } = await run(process.execPath, ['dist/redis-without-ioredis.js'], {
      cwd: app,
      env: { ...process.env, NODE_OPTIONS: '' },
      timeout: 20_000,
    });
    expect(refused.trim()).toBe('MissingPackageException: adapter.redis needs the ioredis package, which is not installed. Install it: npm install ioredis');
  }, 300_000);

  it('runs the standalone server from the package with only what `npm install nest-bindings` and the README’s install line bring: no database driver', async () => {
    const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Standalone server'), readme.indexOf('## Operations'));
    const install = /^npm install (.+?)(?:\s+#.*)?$/m.exec(section)![1].split(/\s+/);
    expect(install[0]).toBe('nest-bindings');
    const dir = join(work, 'standalone');
    const modules = join(dir, 'node_modules');
    mkdirSync(join(modules, 'nest-bindings'), { recursive: true });
    await run('tar', ['xzf', tarball, '-C', join(modules, 'nest-bindings'), '--strip-components=1']);
    // npm installs the dependencies and the peers that are not optional, and links the bin.
    const optional = Object.keys(own.peerDependenciesMeta ?? {}).filter((name) => own.peerDependenciesMeta[name].optional);
    const names = new Set([
      ...Object.keys(own.dependencies),
      ...Object.keys(own.peerDependencies).filter((name) => !optional.includes(name)),
      ...install.slice(1),
    ]);
    expect([...names]).not.toContain('better-sqlite3');
    for (const name of names) {
      mkdirSync(dirname(join(modules, name)), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
    }
    mkdirSync(join(modules, '.bin'));
    const bin = join(modules, 'nest-bindings', own.bin['nest-bindings']);
    chmodSync(bin, 0o755);
    symlinkSync(bin, join(modules, '.bin/nest-bindings'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'backend', private: true, type: 'module' }));
    const secret = 'package-test-secret-0123';
    const port = await freePort();
    writeFileSync(join(dir, 'bindings.json'), JSON.stringify({ port, secret }));
    const env = { ...process.env, NODE_OPTIONS: '', npm_config_offline: 'true', npm_config_update_notifier: 'false' };

    const help = await run('npx', ['nest-bindings', '--help'], { cwd: dir, env, timeout: 60_000 });
    expect(help.stdout).toContain('Usage: nest-bindings serve');
    server = spawn('npx', ['nest-bindings', 'serve', '--config', 'bindings.json'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let log = '';
    server.stdout!.on('data', (chunk) => (log += chunk));
    server.stderr!.on('data', (chunk) => (log += chunk));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the standalone server did not start:\n${log}`)), 30_000);
      server!.stdout!.on('data', () => log.includes('listening on') && (clearTimeout(timer), resolve()));
      server!.once('exit', (code) => reject(new Error(`the standalone server exited with ${code}:\n${log}`)));
    });
    try {
      // A Node backend of the package's own helpers (nest-bindings/backend) calls it.
      writeFileSync(
        join(dir, 'call.js'),
        `import { signRequest } from 'nest-bindings/backend';
         const body = JSON.stringify({ channels: ['lobby'] });
         const res = await fetch('http://127.0.0.1:${port}/api/info', { method: 'POST', body,
           headers: { 'content-type': 'application/json', 'x-bindings-signature': signRequest('${secret}', 'POST', '/api/info', body) } });
         console.log(res.status, await res.text());`,
      );
      const { stdout } = await run(process.execPath, ['call.js'], { cwd: dir, env, timeout: 20_000 });
      expect(stdout.trim()).toBe('200 {"channels":[{"channel":"lobby","users":[],"config":{"history":100,"presence":true}}]}');
      // nest-bindings/backend loads nothing but node: modules (a resolve hook refuses any package).
      writeFileSync(
        join(dir, 'hooks.mjs'),
        `export async function resolve(specifier, context, next) {
           if (!/^(node:|\\.|file:)/.test(specifier) && specifier !== 'nest-bindings/backend') throw new Error('loaded ' + specifier);
           return next(specifier, context);
         }`,
      );
      writeFileSync(join(dir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);");
      const { stdout: names } = await run(
        process.execPath,
        [
          '--import',
          './register.mjs',
          '--input-type=module',
          '-e',
          "const m = await import('nest-bindings/backend'); console.log(Object.keys(m).sort().join(' '))",
        ],
        {
          cwd: dir,
          env,
          timeout: 20_000,
        },
      );
      expect(names.trim()).toBe('SIGNATURE_FUTURE SIGNATURE_HEADER SIGNATURE_TOLERANCE TOKEN_MAX_LENGTH signPublish signRequest signToken verifyToken');
    } finally {
      process.kill(-server.pid!, 'SIGTERM');
      await new Promise((resolve) => server!.once('exit', resolve));
      server = undefined;
    }
  }, 120_000);
});
