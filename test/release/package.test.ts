// The npm package as a user gets it: `npm pack`, `npm install -g` into an empty prefix, then the installed
// `azure-route-controller` binary. One test, because each step needs the one before (about a minute).
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../chart/helm.ts';
import { cleanBuild, headCommit, ok, run } from './pack.ts';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

it(
  'npm pack gives a package that installs with npm install -g in an empty prefix, and whose binary runs --version, version -o json and demo',
  { timeout: 240_000 },
  async () => {
    const commit = await headCommit();
    const build = await cleanBuild(commit);
    // prepack would rebuild into the copy; it was just built, so skip it (and nothing else runs at pack time).
    rmSync(join(build, 'node_modules'));
    const out = mkdtempSync(join(tmpdir(), 'arc-pack-'));
    const packed = await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], {
      cwd: build,
    });
    const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
    const files = info.files.map((f) => f.path);

    // What ships: the file the bin links to (the bundled CLI, with the simulator the demo runs inside it), the
    // commit stamp, package.json and the README. Nothing else: no sources, tests, fixtures, recordings, source
    // maps, chart or tooling.
    const bin = (
      JSON.parse(readFileSync(join(build, 'package.json'), 'utf8')) as { bin: Record<string, string> }
    ).bin['azure-route-controller']!;
    expect(files.sort()).toEqual(
      [
        bin,
        'dist/build-info.json',
        'package.json',
        ...files.filter((f) => f === 'README.md' || f === 'LICENSE'),
      ].sort(),
    );

    const prefix = mkdtempSync(join(tmpdir(), 'arc-global-'));
    await ok(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        join(out, info.filename),
      ],
      {
        cwd: prefix,
      },
    );
    const installedCli = join(prefix, 'bin', 'azure-route-controller');

    const version = await ok(installedCli, ['--version'], { cwd: prefix });
    expect(version.stdout).toBe(`${pkg.version} (commit ${commit})\n`);
    const json = await ok(installedCli, ['version', '-o', 'json'], { cwd: prefix });
    expect(JSON.parse(json.stdout)).toEqual({ version: pkg.version, commit, node: process.versions.node });

    // The demo: the real sync-routes path against the bundled simulator, from the installed package alone.
    const demo = await ok(installedCli, ['demo', '-o', 'json'], { cwd: prefix });
    const report = JSON.parse(demo.stdout) as Record<string, unknown>;
    expect(JSON.stringify(report)).toContain('10.200.1.0/24');
    expect(JSON.stringify(report)).toContain('10.240.0.21');

    // An old Node gets one line naming the version it needs, and exit 2, before any dependency loads. The
    // version is faked with a preload (process.versions is what the check reads), so this runs on any machine.
    const fakeOldNode = `data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.19.0"})`;
    // The file the bin links to, whatever the build makes it (tsc's main.js or a bundle).
    const installedDir = join(prefix, 'lib', 'node_modules', 'azure-route-controller');
    const installedBin = (
      JSON.parse(readFileSync(join(installedDir, 'package.json'), 'utf8')) as { bin: Record<string, string> }
    ).bin['azure-route-controller']!;
    const installed = join(installedDir, installedBin);
    const old = await run(process.execPath, ['--import', fakeOldNode, installed, '--version'], {
      cwd: prefix,
    });
    expect(old.code).toBe(2);
    expect(old.stdout).toBe('');
    expect(old.stderr.trim().split('\n')).toHaveLength(1);
    expect(old.stderr).toMatch(/needs Node\.js 22\.19 or newer; this is Node\.js 20\.19\.0/);
  },
);
