// The bundle (scripts/build.ts) is what ships: the image's ENTRYPOINT, the package's bin and the end-to-end tests
// all run the same file, and it stays ASCII so V8 holds its 4.8 MB source one byte per character (ADR 8).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { imageEnvironment, imageNodeFlags, imageScript } from '../../bench/lib/controller.ts';
import { leaveOneOut } from '../../bench/scenarios/memory.ts';
import { CLI_ENTRY, REPO_ROOT, ensureBundle } from '../support/cli.ts';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
};

describe('the bundled CLI', () => {
  it('is what the image, the bin and the end-to-end tests run', () => {
    const shipped = relative(REPO_ROOT, CLI_ENTRY);
    expect(shipped).toBe('dist/cli/azure-route-controller.js');
    expect(imageScript()).toBe(shipped);
    expect(pkg.bin['azure-route-controller']).toBe(shipped);
    // npm test builds it first (tsc's dist/, then the bundle).
    expect(pkg.scripts['pretest']).toBe('npm run build');
    expect(pkg.scripts['build']).toMatch(/node scripts\/build\.ts/);
    // The runtime settings the benchmark measures are read from the Dockerfile, not restated.
    expect(imageNodeFlags()).toEqual(['--optimize-for-size', '--liftoff-only']);
    expect(imageNodeFlags()).not.toContain('--enable-source-maps');
    expect(imageEnvironment()).toEqual({ MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '16384' });
  });

  it('has only ASCII characters, and a source map beside it', { timeout: 60_000 }, () => {
    const text = readFileSync(ensureBundle(), 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(/[\u0080-\uffff]/.exec(text)).toBeNull();
    expect(text).toMatch(/\/\/# sourceMappingURL=azure-route-controller\.js\.map\s*$/);
    const map = JSON.parse(readFileSync(`${CLI_ENTRY}.map`, 'utf8')) as { sources: string[] };
    expect(map.sources).toContain('../../src/cli/main.ts');
  });

  it('runs on its own: --version and the demo, from outside the repository', { timeout: 60_000 }, () => {
    const run = (args: string[]) =>
      execFileSync(process.execPath, [ensureBundle(), ...args], {
        cwd: '/',
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent' },
        encoding: 'utf8',
      });
    expect(run(['--version'])).toMatch(/^\d+\.\d+\.\d+ \(commit ([0-9a-f]+|unknown)\)\n$/);
    const report = JSON.parse(run(['demo', '-o', 'json'])) as { exitCode: number };
    expect(report.exitCode).toBe(0);
  });

  it(
    "does not load Node's own copy of undici (16 MB): no FormData probe, node:http through require()",
    { timeout: 60_000 },
    () => {
      const text = readFileSync(ensureBundle(), 'utf8');
      // The Azure runtime's "body instanceof FormData" tests are compiled out; undici's own FormData is imported.
      expect(text).not.toMatch(/typeof FormData\s*[!=]==?\s*["']undefined["']/);
      expect(text).not.toMatch(/from\s*"(node:)?http"/);
      // A fresh process running the demo (which starts the simulator, the fake API server and the controller's
      // HTTP clients in one process) never loads it.
      const run = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          [
            `process.argv.splice(1, process.argv.length, ${JSON.stringify(CLI_ENTRY)}, 'demo', '-o', 'json');`,
            "process.on('exit', () => process.stderr.write(`undici loaded: ${process.moduleLoadList.some((m) => m.includes('internal/deps/undici'))}\\n`));",
            `await import(${JSON.stringify(pathToFileURL(ensureBundle()).href)});`,
          ].join('\n'),
        ],
        {
          cwd: '/',
          env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent' },
          encoding: 'utf8',
        },
      );
      expect(run.status, run.stderr).toBe(0);
      expect((JSON.parse(run.stdout) as { exitCode: number }).exitCode).toBe(0);
      expect(run.stderr).toContain('undici loaded: false');
    },
  );

  it('has a leave-one-out run in the benchmark for every Node flag and environment setting of the image', () => {
    const flags = imageNodeFlags();
    const env = imageEnvironment();
    const runs = leaveOneOut();
    expect(runs.map((r) => r.kind)).toEqual([
      ...flags.map((f) => `image without ${f}`),
      ...Object.keys(env).map((k) => `image without ${k}`),
    ]);
    for (const [i, flag] of flags.entries()) {
      expect(runs[i]!.entry.nodeFlags).toEqual(flags.filter((f) => f !== flag));
      expect(runs[i]!.entry.env).toEqual(env);
    }
    for (const [j, key] of Object.keys(env).entries()) {
      const run = runs[flags.length + j]!;
      expect(run.entry.nodeFlags).toEqual(flags);
      expect(Object.keys(run.entry.env)).toEqual(Object.keys(env).filter((k) => k !== key));
    }
  });
});
