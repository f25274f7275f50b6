import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { within } from './world.js';

export interface Program {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  /** Resolves with the first match of `pattern` in stdout; rejects if the program exits first. */
  waitFor(pattern: RegExp, what: string, ms?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs a built script of this repository in its own Node process, reading its output. */
export function startProgram(script: string, args: string[]): Program {
  const child = spawn(process.execPath, [script, ...args], { stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    output: () => `stdout:\n${stdout}\nstderr:\n${stderr}`,
    waitFor(pattern, what, ms = 10_000) {
      const found = new Promise<RegExpMatchArray>((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(stdout);
          if (match) {
            listeners.delete(check);
            resolve(match);
          }
        };
        listeners.add(check);
        check();
        void exited.then(() => reject(new Error(`${script} exited before printing ${what}\n${stdout}\n${stderr}`)));
      });
      return within(found, what, ms);
    },
  };
}

/** Ends a program with SIGTERM or SIGINT (its graceful leave), or SIGKILL if it does not go. */
export async function stopProgram(program: Program, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (program.child.exitCode !== null || program.child.signalCode !== null) return program.exited;
  program.child.kill(signal);
  try {
    return await within(program.exited, `the program to exit after ${signal}`, 10_000);
  } catch (error) {
    program.child.kill('SIGKILL');
    await program.exited;
    throw error;
  }
}

/** Runs a built script to its end (killed after `ms`), with its exit code and output. */
export async function runProgram(
  script: string,
  args: string[],
  ms = 30_000,
  environment: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: environment });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    return { code: await within(exited, `${script} ${args.join(' ')} to end`, ms), stdout, stderr };
  } finally {
    child.kill('SIGKILL');
  }
}
