// The CommonJS copy of nest-bindings/client (`require('nest-bindings/client')`): tsc with
// tsconfig.client-cjs.json (no Node types, DOM globals only), then a package.json saying
// "commonjs" in the output folder, since the package itself is "type": "module".
// Then the Node entry (lib/client-node: the client with `ws` as its default WebSocket) beside it,
// in <outDir>/../client-node.
// Usage: node scripts/build-client-cjs.mjs [outDir]   (default dist/cjs/client)
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(root, process.argv[2] ?? 'dist/cjs/client');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.client-cjs.json'), '--outDir', outDir], { stdio: 'inherit' });
writeFileSync(join(outDir, 'package.json'), '{\n  "type": "commonjs"\n}\n');
const nodeOut = join(dirname(outDir), 'client-node');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.client-node-cjs.json'), '--outDir', dirname(outDir)], { stdio: 'inherit' });
writeFileSync(join(nodeOut, 'package.json'), '{\n  "type": "commonjs"\n}\n');
