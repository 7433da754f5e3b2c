#!/usr/bin/env node
// `npx nest-bindings serve --config bindings.json`: the standalone server (README, "Standalone server").
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { ConfigError, helpText, loadConfig } from './config.js';
import { MissingServerPackage, startStandalone } from './server.js';

/** Exit code of a command line or a configuration that cannot work. */
const EXIT_USAGE = 2;

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  if (positionals.length !== 1 || positionals[0] !== 'serve')
    return usage(positionals.length ? `unknown command ${positionals.join(' ')}` : 'no command given');
  let config;
  try {
    config = loadConfig({ config: values.config, port: values.port, host: values.host });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`nest-bindings: invalid configuration: ${error.message}\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  let started;
  try {
    started = await startStandalone(config);
  } catch (error) {
    process.stderr.write(
      `nest-bindings: the server could not start: ${error instanceof MissingServerPackage ? error.message : ((error as Error)?.message ?? error)}\n`,
    );
    process.exit(1);
  }
  process.stdout.write(`nest-bindings standalone server listening on ${started.url} (WebSocket ${started.url.replace(/^http/, 'ws')}/ws)\n`);
  const stop = () => {
    started.app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function usage(problem: string): void {
  process.stderr.write(`nest-bindings: ${problem}\nUsage: nest-bindings serve --config bindings.json [--port <port>]; nest-bindings --help lists every key.\n`);
  process.exitCode = EXIT_USAGE;
}

await main(process.argv.slice(2));
