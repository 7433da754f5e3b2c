import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../scale/instances.js';

/**
 * The standalone server as its users run it: the README's command, in a folder of its own
 * whose node_modules holds this checkout as the installed package (its bin pointing at the
 * built dist/, as npm links it), so `npx` finds it without the registry.
 */

export const ROOT = new URL('../..', import.meta.url).pathname;
export const PYTHON_EXAMPLE = join(ROOT, 'examples/python/backend.py');
const run = promisify(execFile);

/** The README section "Standalone server". */
export function readmeSection(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Standalone server');
  return readme.slice(start, readme.indexOf('\n## ', start + 1));
}

/** The README's command line that starts the server. */
export function readmeCommand(): string {
  const line = /^npx nest-bindings serve .*$/m.exec(readmeSection());
  if (!line) throw new Error('the README section "Standalone server" has no `npx nest-bindings serve` line');
  return line[0];
}

/** A folder like a project that installed the package: node_modules/nest-bindings and its bin. */
export function projectDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nb-standalone-'));
  mkdirSync(join(dir, 'node_modules/.bin'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules/nest-bindings'));
  const bin = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).bin['nest-bindings'];
  symlinkSync(join(ROOT, bin), join(dir, 'node_modules/.bin/nest-bindings'));
  chmodSync(join(ROOT, bin), 0o755); // as npm does to a bin when it installs the package
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'backend', private: true }));
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The environment of a command: this one's, without jest's NODE_OPTIONS, offline for npx. */
function commandEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, NODE_OPTIONS: '', npm_config_offline: 'true', npm_config_update_notifier: 'false', ...env };
}

/** Runs `command` (a shell line) in `dir`, to its end. */
export async function runCommand(dir: string, command: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('sh', ['-c', command], { cwd: dir, env: commandEnv(env), timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

export interface ServerProcess {
  http: string;
  ws: string;
  output: string[];
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts the README's command in `dir` with `env` on a free port (BINDINGS_PORT), and
 * resolves once it says it listens. It runs in a process group of its own (npx, its shell,
 * the server), stopped as a whole by that group's id.
 */
export async function startServer(dir: string, env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn('sh', ['-c', readmeCommand()], {
    cwd: dir,
    env: commandEnv({ BINDINGS_PORT: String(port), ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const output: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${output.join('')}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.join('').includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code}:\n${output.join('')}`));
    });
  });
  return {
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    output,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        process.kill(-child.pid!, 'SIGTERM');
      }),
  };
}

/**
 * Runs one command of the README's Python backend (`python3 backend.py <command> '<json>'`)
 * against `base`, and answers what it printed: the call's answer, or `{error, status}`.
 */
export async function python(base: string, secret: string, command: string, args: Record<string, unknown> = {}): Promise<any> {
  try {
    const { stdout } = await run('python3', [PYTHON_EXAMPLE, command, JSON.stringify(args)], {
      env: { ...process.env, NODE_OPTIONS: '', BINDINGS_URL: base, BINDINGS_SECRET: secret },
      timeout: 20_000,
    });
    return JSON.parse(stdout.trim().split('\n').pop()!);
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (failed.code === 1 && failed.stdout) return JSON.parse(failed.stdout.trim());
    throw new Error(`python3 backend.py ${command} failed: ${failed.stderr ?? error}`, { cause: error });
  }
}

/** Resolves once `condition` holds (checked every 20 ms), or fails after `timeout` ms. */
export async function until(condition: () => boolean, timeout = 5000): Promise<void> {
  const end = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
