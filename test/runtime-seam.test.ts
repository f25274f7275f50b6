import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';

/**
 * The runtime seam, enforced: protocol modules reach time, timers, randomness,
 * sockets, the disk and the process only through the injected Runtime. The
 * checker parses each file with the TypeScript compiler, so comments and
 * string literals never count; only code does.
 */

// Tests run from dist/test; the sources sit two folders up.
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const sourceRoot = join(repositoryRoot, 'src');

/** The real runtime and process entry points (the command line, the daemon, the wiki's HTTP server) may touch the machine directly. */
const exemptPaths = ['runtime/real.ts', 'runtime/real/', 'cli/', 'daemon/', 'web/server.ts'];

/**
 * Uses that are allowed in one file, with the reason. The simulator's driver
 * must let protocol promises settle between simulated instants and yield to
 * Node's event loop now and then; it reads no clock and arms no timer of its own.
 */
const allowed: Record<string, Array<{ name: string; reason: string }>> = {
  'runtime/sim/simulation.ts': [
    { name: 'setImmediate', reason: 'gives the event loop a turn every 1024 simulated instants and at the end of every run' },
    { name: 'process.nextTick', reason: 'queues the next simulated instant once every microtask of this one has run (Node runs ticks after the microtask queue)' },
  ],
};

const timerFunctions = new Set(['setTimeout', 'setInterval', 'setImmediate']);
/** object.property pairs that read the wall clock or an unseeded random source. */
const forbiddenMembers = new Set(['Date.now', 'Math.random', 'performance.now', 'process.hrtime']);
/** Unseeded randomness from node:crypto; key material comes from `runtime.random.bytes`. */
const cryptoRandomness = new Set(['randomBytes', 'randomUUID', 'randomInt', 'getRandomValues']);
/** Sockets, timers, clocks, the file system (the disk is `runtime.disk`) and the machine (`runtime.totalMemoryBytes`). */
const forbiddenModules = new Set(['net', 'tls', 'dgram', 'timers', 'timers/promises', 'perf_hooks', 'fs', 'fs/promises', 'os', 'lmdb']);

export interface SeamViolation {
  line: number;
  what: string;
}

function isForbiddenModule(specifier: string): boolean {
  return forbiddenModules.has(specifier.replace(/^node:/, ''));
}

/**
 * What code does with an identifier `process`: `process.<member>` for a
 * property access (also through `globalThis.process` or `process['member']`),
 * `process` for any other reference to it (passing it on, destructuring it),
 * undefined when the name is not the global (a property or a declaration).
 */
function processUse(identifier: ts.Identifier): string | undefined {
  let reference: ts.Expression = identifier;
  const parent = identifier.parent;
  if (ts.isPropertyAccessExpression(parent) && parent.name === identifier) {
    // `something.process`: the global only when `something` is globalThis.
    if (!(ts.isIdentifier(parent.expression) && parent.expression.text === 'globalThis')) return undefined;
    reference = parent;
  } else if (
    (ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent) || ts.isMethodDeclaration(parent) || ts.isPropertySignature(parent)) &&
    parent.name === identifier
  ) {
    return undefined;
  } else if ((ts.isVariableDeclaration(parent) || ts.isParameter(parent) || ts.isBindingElement(parent)) && parent.name === identifier) {
    return undefined;
  } else if (ts.isBindingElement(parent) && parent.propertyName === identifier) {
    return undefined;
  }
  const owner = reference.parent;
  if (ts.isPropertyAccessExpression(owner) && owner.expression === reference) return `process.${owner.name.text}`;
  if (ts.isElementAccessExpression(owner) && owner.expression === reference) {
    return ts.isStringLiteralLike(owner.argumentExpression) ? `process.${owner.argumentExpression.text}` : 'process[…]';
  }
  return 'process';
}

/** The seam violations in one TypeScript source text. */
export function findSeamViolations(fileName: string, sourceText: string): SeamViolation[] {
  const source = ts.createSourceFile(fileName, sourceText, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const violations: SeamViolation[] = [];
  const report = (node: ts.Node, what: string): void => {
    violations.push({ line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, what });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && (timerFunctions.has(node.text) || cryptoRandomness.has(node.text))) {
      report(node, node.text);
    } else if (ts.isIdentifier(node) && node.text === 'process') {
      const use = processUse(node);
      if (use !== undefined) report(node, use);
    } else if (ts.isPropertyAccessExpression(node)) {
      const owner = node.expression;
      const ownerName = ts.isIdentifier(owner)
        ? owner.text
        : ts.isPropertyAccessExpression(owner) && ts.isIdentifier(owner.expression) && owner.expression.text === 'globalThis'
          ? owner.name.text
          : undefined;
      const member = `${ownerName}.${node.name.text}`;
      if (forbiddenMembers.has(member)) report(node, member);
    } else if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      if (isForbiddenModule(node.moduleSpecifier.text)) report(node, `import "${node.moduleSpecifier.text}"`);
    } else if (ts.isCallExpression(node) && node.arguments.length > 0) {
      const isLoader = node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require');
      const specifier = node.arguments[0] as ts.Expression;
      if (isLoader && ts.isStringLiteralLike(specifier) && isForbiddenModule(specifier.text)) report(node, `import "${specifier.text}"`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return violations;
}

/** Every .ts file under `folder`, as paths relative to src/ with forward slashes. */
function sourceFiles(folder: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts')) files.push(relative(sourceRoot, path).split(sep).join('/'));
  }
  return files;
}

describe('runtime seam', () => {
  it('finds timers, clocks, randomness and socket imports in code', () => {
    const offending = [
      "import net from 'node:net';",
      "import tls from 'node:tls';",
      "import * as dgram from 'dgram';",
      "import { setTimeout as sleep } from 'node:timers/promises';",
      "export { performance } from 'perf_hooks';",
      'const started = Date.now();',
      'const late = globalThis.Date.now();',
      'setTimeout(() => undefined, 10);',
      'const tick = setInterval(() => undefined, 10);',
      'setImmediate(() => undefined);',
      'const dice = Math.random();',
      'const elapsed = performance.now();',
      'const bytes = crypto.randomBytes(4);',
      "const socket = await import('node:dgram');",
      "const legacy = require('net');",
      "import { readFile } from 'node:fs/promises';",
      "import fs from 'fs';",
      "import os from 'node:os';",
      "const { open } = await import('lmdb');",
      'process.nextTick(() => undefined);',
      'const home = process.env.HOME;',
      'globalThis.process.exit(1);',
      "const argv = process['argv'];",
      'const { env } = process;',
    ].join('\n');
    const found = findSeamViolations('offending.ts', offending);
    assert.deepEqual(
      [...new Set(found.map((violation) => violation.line))],
      Array.from({ length: 24 }, (_, index) => index + 1),
      JSON.stringify(found),
    );
    for (const what of ['Date.now', 'import "node:net"', 'import "node:tls"', 'import "node:fs/promises"', 'import "fs"', 'import "node:os"', 'import "lmdb"']) {
      assert.ok(found.some((violation) => violation.what === what), what);
    }
    for (const what of ['process.nextTick', 'process.env', 'process.exit', 'process.argv', 'process']) {
      assert.ok(found.some((violation) => violation.what === what), what);
    }
  });

  it('ignores comments, strings and the runtime interface itself', () => {
    const harmless = [
      '// Never Date.now() or setTimeout here: use runtime.now() and runtime.setTimer().',
      '/* import net from "node:net"; Math.random() */',
      "const help = 'setInterval and node:dgram are off limits';",
      'const template = `performance.now() ${1} Math.random()`;',
      "import { createHash } from 'node:crypto';",
      'const at = runtime.now();',
      'runtime.setTimer(10, () => undefined);',
      'const roll = runtime.random.float();',
      "const other = import('./network.js');",
      '// process.exit(1) and node:fs belong to the real runtime',
      'const processed = queue.process(1);',
      'const job = { process: 1, processTimeMs: 2 };',
      'const { process: step } = job;',
      "const file = await runtime.disk.readFile('/var/butter/identity.pem');",
    ].join('\n');
    assert.deepEqual(findSeamViolations('harmless.ts', harmless), []);
  });

  it('holds in every protocol module under src/', () => {
    const files = sourceFiles(sourceRoot);
    const checked = files.filter((file) => !exemptPaths.some((exempt) => file === exempt || file.startsWith(exempt)));
    // A wrong source path would check nothing and pass; make sure the tree was found.
    assert.ok(checked.length >= 30, `only ${checked.length} source files found under ${sourceRoot}`);
    assert.ok(checked.includes('transport/connection.ts') && checked.includes('node/node.ts'));
    const problems: string[] = [];
    const allowanceUsed = new Set<string>();
    for (const file of checked) {
      const exceptions = allowed[file] ?? [];
      for (const violation of findSeamViolations(file, readFileSync(join(sourceRoot, file), 'utf8'))) {
        if (exceptions.some((exception) => exception.name === violation.what)) {
          allowanceUsed.add(`${file} ${violation.what}`);
          continue;
        }
        problems.push(`src/${file}:${violation.line} uses ${violation.what}; go through the injected Runtime`);
      }
    }
    assert.deepEqual(problems, []);
    // An allowance nothing uses any more is stale: remove it rather than let it excuse new code.
    const stale = Object.entries(allowed).flatMap(([file, exceptions]) =>
      exceptions.filter((exception) => !allowanceUsed.has(`${file} ${exception.name}`)).map((exception) => `${file} ${exception.name}`),
    );
    assert.deepEqual(stale, []);
  });
});
