// Runs the CLI as it ships, the bundle (dist/cli/azure-route-controller.js, what the image and the package's bin
// run), as a child process, exactly as a user would, with a clean environment: nothing from the test runner's
// KUBECONFIG, AZURE_* or in-cluster variables leaks into it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { SyncReport } from '../../src/controller/report.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_ENTRY = fileURLToPath(new URL('../../dist/cli/azure-route-controller.js', import.meta.url));
const SOURCES = fileURLToPath(new URL('../../src/', import.meta.url));

let bundleChecked = false;
/**
 * `npm test` builds the bundle first (pretest); a single test file run with `npm run test:unit -- FILE` does not.
 * So before the first spawn, the bundle is rebuilt when any file under src/ is newer than it (or it is missing):
 * what a test runs is always the current code, bundled as it ships. scripts/build.ts renames its output into
 * place, so test processes building at once never see half a file.
 */
export function ensureBundle(): string {
  if (bundleChecked) return CLI_ENTRY;
  let built: number;
  try {
    built = statSync(CLI_ENTRY).mtimeMs;
  } catch {
    built = 0;
  }
  if (built === 0 || newestMtime(SOURCES) > built) {
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.ts')], {
      cwd: REPO_ROOT,
      stdio: 'pipe',
    });
  }
  bundleChecked = true;
  return CLI_ENTRY;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export interface CliResult {
  /** The exit code; null when the process was killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The command line, for failure messages. */
  readonly args: readonly string[];
}

export interface RunCliOptions {
  /** Variables added to the clean environment (e.g. KUBECONFIG for the fallback test). */
  readonly env?: Readonly<Record<string, string>>;
  /** Sent to SIGINT/SIGTERM-aware children; tests for `run` use it to stop the controller. */
  readonly signal?: AbortSignal;
  /**
   * A guard, not a wait: a child still running after this long is killed with SIGKILL so a hang fails one
   * test, with the child's output, before vitest's 30 s test timeout does. Default 25 s.
   */
  readonly killAfterMs?: number;
}

// A HOME of its own, so nothing under the developer's home directory (~/.kube, ~/.azure) can be picked up.
let home: string | undefined;
function emptyHome(): string {
  if (home === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'arc-e2e-home-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    home = dir;
  }
  return home;
}

/** The environment the CLI runs with: a PATH and an empty HOME, plus what the test asks for. */
export function cleanEnvironment(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: emptyHome(), LANG: 'C.UTF-8', ...extra };
}

/** A CLI process still running: for `run`, which a test stops once it has seen what it waits for. */
export interface RunningCli {
  readonly child: ChildProcess;
  /** Everything written so far. */
  output(): { readonly stdout: string; readonly stderr: string };
  /**
   * Resolves when the output so far matches `pattern` (checked on every chunk, no polling); rejects if the
   * process exits first.
   */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<void>;
  /** Sends a signal (SIGTERM by default) and resolves with the result once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
  /** Resolves once the process has exited and both pipes are drained. */
  readonly exited: Promise<CliResult>;
}

/** Spawns `node dist/cli/azure-route-controller.js ...args` with a clean environment. */
export function startCli(args: readonly string[], options: RunCliOptions = {}): RunningCli {
  const child = spawn(process.execPath, [ensureBundle(), ...args], {
    cwd: REPO_ROOT,
    env: cleanEnvironment(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  const watchers = new Set<() => void>();
  const onData = (stream: 'stdout' | 'stderr') => (chunk: string) => {
    out[stream] += chunk;
    for (const check of [...watchers]) check();
  };
  child.stdout!.setEncoding('utf8').on('data', onData('stdout'));
  child.stderr!.setEncoding('utf8').on('data', onData('stderr'));
  const guard = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 25_000);
  const onAbort = () => child.kill('SIGTERM');
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const exited = new Promise<CliResult>((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(guard);
      reject(err);
    });
    // 'close' (not 'exit') so both pipes are drained before we resolve.
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      options.signal?.removeEventListener('abort', onAbort);
      for (const check of [...watchers]) check();
      resolve({ code, signal, stdout: out.stdout, stderr: out.stderr, args });
    });
  });
  let done = false;
  void exited.then(
    () => (done = true),
    () => (done = true),
  );

  return {
    child,
    output: () => ({ ...out }),
    exited,
    waitFor(pattern, stream) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          const text = stream === undefined ? out.stdout + out.stderr : out[stream];
          if (pattern.test(text)) {
            watchers.delete(check);
            resolve();
          } else if (done || child.exitCode !== null || child.signalCode !== null) {
            watchers.delete(check);
            reject(
              new Error(`the CLI exited before its output matched ${pattern}:\n${out.stdout}\n${out.stderr}`),
            );
          }
        };
        watchers.add(check);
        check();
      });
    },
    stop(signal = 'SIGTERM') {
      child.kill(signal);
      return exited;
    },
  };
}

/** Spawns the bundled CLI with `args` and resolves once it has exited, with everything it wrote. */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  return startCli(args, options).exited;
}

/** The lines of stderr that are pino log records (JSON objects). */
export function logRecords(stderr: string): Record<string, unknown>[] {
  return lines(stderr).flatMap((line) => {
    const record = tryJson(line);
    return record !== undefined && typeof record === 'object' && record !== null && !Array.isArray(record)
      ? [record as Record<string, unknown>]
      : [];
  });
}

/** The lines of stderr that are not log records: what the CLI itself says to people (errors, usage hints). */
export function messageLines(stderr: string): string[] {
  return lines(stderr).filter((line) => tryJson(line) === undefined);
}

/** Lines that look like a JavaScript stack trace frame. */
export function stackFrames(text: string): string[] {
  return text.split('\n').filter((line) => /^\s+at /.test(line));
}

export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

function tryJson(line: string): unknown {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}

/** A compact description of a run, for expect(...) failure messages. */
export function describeRun(result: CliResult): string {
  return [
    `$ node dist/cli/azure-route-controller.js ${result.args.join(' ')}`,
    `exit ${result.code ?? result.signal}`,
    '--- stdout',
    result.stdout,
    '--- stderr',
    result.stderr,
  ].join('\n');
}

/** Asserts the exit code, printing the whole run when it differs. */
export function expectExit(result: CliResult, code: number): void {
  expect(result.code, describeRun(result)).toBe(code);
}

/** Parses stdout as the one JSON object `--output json` prints; its exitCode must be the process's. */
export function parseReport(result: CliResult): SyncReport {
  const report = JSON.parse(result.stdout) as SyncReport;
  expect(report.exitCode, 'the JSON exitCode is the process exit code').toBe(result.code);
  return report;
}

/**
 * The run's error: exactly one line on stderr besides log records, starting `error: `, and no stack trace.
 * Runs that reach Azure pass --log-level silent when they want stderr to hold nothing else.
 */
export function expectOneLineError(result: CliResult): string {
  expect(stackFrames(result.stderr), describeRun(result)).toEqual([]);
  const said = messageLines(result.stderr);
  expect(said, describeRun(result)).toHaveLength(1);
  expect(said[0]).toMatch(/^error: /);
  return said[0]!;
}
