import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ROOT } from '../fixtures/client-build.js';

/**
 * The client's types, checked by the compiler: test/client/typed-usage.ts is a program that
 * must compile as is (so every `@ts-expect-error` in it is used), and with those
 * directives removed must fail on exactly the lines they marked, each with the TS code the
 * directive names (an excluded column read or written, a wrong event name...).
 */

const FIXTURE = join(ROOT, 'test/client/typed-usage.ts');
const DIRECTIVE = /^\s*\/\/ @ts-expect-error (\d+): /;

function options(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  return { ...parsed.options, noEmit: true, incremental: false };
}

/** The diagnostics of the fixture, compiled from `text`, as `line: code` (1-based lines). */
function check(text: string, old?: ts.Program): { program: ts.Program; errors: string[] } {
  const compilerOptions = options();
  const host = ts.createCompilerHost(compilerOptions);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (name, language, ...rest) =>
    name === FIXTURE ? ts.createSourceFile(name, text, language) : getSourceFile.call(host, name, language, ...rest);
  const program = ts.createProgram([FIXTURE], compilerOptions, host, old);
  const errors = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName === FIXTURE ? '' : `${d.file.fileName}:`}${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '?';
    return `${where}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ').slice(0, 200)}`;
  });
  return { program, errors };
}

describe('client types', () => {
  // Two whole-program compilations: minutes on a busy machine rather than the default 20 s.
  it('refuse excluded columns in rows and writes and wrong push event names; a correct program compiles', () => {
    const text = readFileSync(FIXTURE, 'utf8');
    const lines = text.split('\n');
    const expected = lines.flatMap((line, i) => {
      const match = DIRECTIVE.exec(line);
      return match ? [`${i + 2}: TS${match[1]}`] : [];
    });
    // The fixture covers reads, filters, writes, event names and push rows.
    expect(expected.length).toBeGreaterThanOrEqual(20);

    // As written: no diagnostic at all, so each @ts-expect-error is used (an unused one is TS2578).
    const clean = check(text);
    expect(clean.errors).toEqual([]);

    // Without the directives: each marked line fails with its code, and nothing else fails.
    const bare = lines.map((line) => (DIRECTIVE.test(line) ? '' : line)).join('\n');
    const { errors } = check(bare, clean.program);
    expect(errors.map((e) => e.slice(0, e.indexOf(' ', e.indexOf('TS'))))).toEqual(expected);
  }, 180_000);
});
