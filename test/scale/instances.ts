import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ModuleMetadata } from '@nestjs/common';
import type { DataSourceOptions } from 'typeorm';
import type { BindingsModuleOptions } from '../../lib/index.js';
import { settle, startApp, startAppOn, type TestApp } from '../fixtures/harness.js';

/** A sample app process (dist/sample/main.js, built by `npm run build`). */
export interface Instance {
  process: ChildProcess;
  port: number;
  http: string;
  ws: string;
  output: string[];
  stop(): Promise<void>;
}

export const root = new URL('../..', import.meta.url).pathname;

const made: string[] = [];

/** A temporary folder (for an instance's database); `removeTempDirs()` in afterAll removes it. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nest-bindings-'));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A free port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Starts the sample on a free port with `env`, and resolves once it listens. */
export async function startInstance(env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/sample/main.js'], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sample did not start:\n${output.join('')}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (chunk.toString().includes('Kanban sample on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.once('exit', (code) => reject(new Error(`sample exited with ${code}:\n${output.join('')}`)));
  });
  return {
    process: child,
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** A redis-server of the test's own on a free port, stopped by its PID. */
export async function startRedis(port?: number): Promise<{ port: number; url: string; stop(): Promise<void> }> {
  const chosen = port ?? (await freePort());
  const child = spawn('redis-server', ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start')), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', reject);
  });
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** `authenticate` of the two-instance suites: the user named by the `x-user` header, or anonymous. */
export const userFromHeader = (req: IncomingMessage) => (req.headers['x-user'] ? { id: String(req.headers['x-user']) } : null);

/**
 * Two apps of `entities` in this process with the module options `options`, sharing one
 * Redis of the test's own under a key prefix of their own (`adapter` adds Redis settings).
 */
export async function startPair(
  entities: Function[],
  options: Omit<BindingsModuleOptions, 'adapter'> = {},
  adapter: { presenceTtl?: number } = {},
): Promise<{ redis: Awaited<ReturnType<typeof startRedis>>; a: TestApp; b: TestApp }> {
  const redis = await startRedis();
  const shared: BindingsModuleOptions = { ...options, adapter: { ...adapter, redis: redis.url, keyPrefix: keyPrefix('t') } };
  const a = await startApp(entities, shared);
  const b = await startApp(entities, shared);
  await settle(200); // both subscribed to Redis
  return { redis, a, b };
}

/**
 * One app of the module options `options` (with `extra` providers) over `database`, which the
 * other apps of the suite use too: closing the app leaves the database to the suite.
 */
export function startSharing(database: DataSourceOptions, options: BindingsModuleOptions, extra: ModuleMetadata = {}): Promise<TestApp> {
  return startAppOn({ options: database, drop: async () => undefined }, options, extra);
}

/** A key prefix of the suite's own in the shared Redis. */
export const keyPrefix = (letter: string) => `${letter}${randomBytes(3).toString('hex')}:`;
