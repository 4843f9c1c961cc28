// Shared steps of the release tests: build the package from a clean copy of the sources (so a stale dist/ in
// the working tree, or another engineer's build, can never leak into what is checked), and run processes.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../chart/helm.ts';

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** PATH with the pinned Node first, so `#!/usr/bin/env node` and npm run on Node 24, as the image does. */
export const NODE_PATH = `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`;

export function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      {
        cwd: options.cwd ?? ROOT,
        env: { ...process.env, PATH: NODE_PATH, ...options.env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
  });
}

export async function ok(
  file: string,
  args: readonly string[],
  options: { cwd?: string } = {},
): Promise<Run> {
  const result = await run(file, args, options);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${result.code}:\n${result.stderr}\n${result.stdout}`);
  }
  return result;
}

/** The commit the release would stamp: HEAD of this checkout. */
export async function headCommit(): Promise<string> {
  return (await ok('git', ['rev-parse', 'HEAD'])).stdout.trim();
}

/**
 * A copy of what the package and the image are built from (package.json, the lock file, tsconfig.json, src/),
 * compiled with the project's tsc, with dist/build-info.json stamped as the release workflow and the Dockerfile
 * stamp it. Returns the directory.
 */
export async function cleanBuild(commit: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'arc-build-'));
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md']) {
    if (existsSync(join(ROOT, file))) cpSync(join(ROOT, file), join(dir, file));
  }
  cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
  // tsc resolves @types/node and the dependencies' types from node_modules; the project's serve.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  // tsc emits even when it reports type errors; those are `npm run typecheck`'s business (and, in a tree
  // several people edit at once, often someone's work in progress). What this needs is the emitted code.
  const tsc = await run(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
    {
      cwd: dir,
    },
  );
  if (!existsSync(join(dir, 'dist', 'cli', 'main.js'))) {
    throw new Error(`tsc emitted no dist/cli/main.js (exit ${tsc.code}):\n${tsc.stdout}${tsc.stderr}`);
  }
  mkdirSync(join(dir, 'dist'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'build-info.json'), `${JSON.stringify({ commit })}\n`);
  return dir;
}
