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
 * A copy of what the package and the image are built from (package.json, the lock file, tsconfig.json, src/ and
 * scripts/), built with the project's own `npm run build` (whatever it is: tsc, and the bundle when there is one),
 * with dist/build-info.json stamped as the release workflow and the Dockerfile stamp it. Returns the directory.
 */
export async function cleanBuild(commit: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'arc-build-'));
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md']) {
    if (existsSync(join(ROOT, file))) cpSync(join(ROOT, file), join(dir, file));
  }
  for (const tree of ['src', 'scripts']) cpSync(join(ROOT, tree), join(dir, tree), { recursive: true });
  // The build tools (tsc, and esbuild for a bundle) and the dependencies' types: the project's serve.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const build = await run('npm', ['run', '-s', 'build'], { cwd: dir });
  if (build.code !== 0)
    throw new Error(`npm run build failed (exit ${build.code}):\n${build.stdout}${build.stderr}`);
  mkdirSync(join(dir, 'dist'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'build-info.json'), `${JSON.stringify({ commit })}\n`);
  return dir;
}
