// End to end: usage and configuration mistakes exit 2 with one line on stderr (no stack trace), before anything
// is written anywhere; --help documents every flag of the README.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  REPO_ROOT,
  cleanEnvironment,
  describeRun,
  ensureBundle,
  expectExit,
  expectOneLineError,
  messageLines,
  runCli,
  stackFrames,
  type CliResult,
} from '../support/cli.ts';
import { startSandbox, workers, type Sandbox } from '../support/sandbox.ts';

let sb: Sandbox | undefined;
afterEach(async () => {
  vi.unstubAllEnvs();
  await sb?.close();
  sb = undefined;
});

/** Before any network I/O: exactly one line on stderr (`error: ...`, no stack trace) and nothing on stdout. */
function oneLineError(result: CliResult): string {
  expect(result.stderr.trimEnd().split('\n'), describeRun(result)).toHaveLength(1);
  expect(result.stdout).toBe('');
  return expectOneLineError(result);
}

/** Checks that nothing reached Azure or Kubernetes. */
function expectUntouched(s: Sandbox): void {
  expect(s.sim.requests).toEqual([]);
  expect(s.kube.requests).toEqual([]);
}

describe('configuration mistakes exit 2', () => {
  it('an unreadable kubeconfig: missing, a directory, not a kubeconfig', async () => {
    sb = await startSandbox({ nodes: workers(1) });
    const notKubeconfig = join(sb.dir, 'notes.yaml');
    writeFileSync(notKubeconfig, 'shopping:\n  - milk\n');
    const dir = join(sb.dir, 'a-directory');
    mkdirSync(dir);
    for (const [path, why] of [
      [join(sb.dir, 'missing'), 'does not exist'],
      [dir, 'directory'],
      [notKubeconfig, 'kubeconfig'],
    ] as const) {
      const result = await sb.syncRoutes(['--kubeconfig', path]);
      expectExit(result, 2);
      const line = oneLineError(result);
      expect(line).toContain(path);
      expect(line).toContain(why);
      expectUntouched(sb);
    }
  });

  it('$KUBECONFIG is the fallback for --kubeconfig', async () => {
    sb = await startSandbox({ nodes: workers(1) });
    const flags = sb.flags().filter((f, i, all) => f !== '--kubeconfig' && all[i - 1] !== '--kubeconfig');
    const ok = await runCli(['sync-routes', ...flags, '--dry-run'], { env: { KUBECONFIG: sb.kubeconfig } });
    expectExit(ok, 3);
    const missing = join(sb.dir, 'nope');
    const bad = await runCli(['sync-routes', ...flags], { env: { KUBECONFIG: missing } });
    expectExit(bad, 2);
    expect(oneLineError(bad)).toContain(missing);
  });

  it('without a kubeconfig and outside a pod, says how to give one', async () => {
    sb = await startSandbox({ nodes: workers(1) });
    // The test runner's own environment must not leak into the CLI (test/support/cli.ts runs it clean).
    vi.stubEnv('KUBECONFIG', sb.kubeconfig);
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '127.0.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '443');
    const flags = sb.flags().filter((f, i, all) => f !== '--kubeconfig' && all[i - 1] !== '--kubeconfig');
    const result = await runCli(['sync-routes', ...flags]);
    expectExit(result, 2);
    expect(oneLineError(result)).toContain('--kubeconfig');
    expectUntouched(sb);
  });

  it('no --cluster-cidr, for sync-routes and run: one line naming the flag and where its value lives', async () => {
    sb = await startSandbox({ nodes: workers(1), table: { routes: [] } });
    const s = sb;
    const results = await Promise.all(
      (['sync-routes', 'run'] as const).map((command) =>
        runCli([command, ...s.flags({ clusterCidr: null })]),
      ),
    );
    for (const result of results) {
      expectExit(result, 2);
      const line = oneLineError(result);
      expect(line).toMatch(/^error: --cluster-cidr is required; /);
      expect(line).toContain("kube-controller-manager's --cluster-cidr");
      expect(line).toContain('networking.podSubnet');
    }
    expectUntouched(sb);
  });

  it('an invalid --cluster-cidr', async () => {
    sb = await startSandbox({ nodes: workers(1) });
    const s = sb;
    const cidrs = ['10.200.0.0/33', 'pods', '0.0.0.0/0'];
    const results = await Promise.all(
      cidrs.map((cidr) => runCli(['sync-routes', ...s.flags({ clusterCidr: cidr })])),
    );
    results.forEach((result, i) => {
      expectExit(result, 2);
      expect(oneLineError(result)).toContain(`error: --cluster-cidr: "${cidrs[i]}"`);
    });
    expectUntouched(sb);
  });

  it('an azure.json that is not JSON, without echoing its content', async () => {
    sb = await startSandbox({ nodes: workers(1) });
    const file = join(sb.dir, 'azure.json');
    writeFileSync(
      file,
      '{\n  "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",\n  "aadClientSecret": s3cr3t\n}\n',
    );
    const result = await sb.syncRoutes(['--cloud-config', file]);
    expectExit(result, 2);
    const line = oneLineError(result);
    expect(line).toContain(`--cloud-config ${file}: not valid JSON`);
    expect(line).not.toContain('s3cr3t');
    expectUntouched(sb);
  });

  it('an azure.json key of the wrong type names the key', async () => {
    sb = await startSandbox({ nodes: workers(1) });
    const file = join(sb.dir, 'azure.json');
    writeFileSync(file, JSON.stringify({ useManagedIdentityExtension: 'yes' }));
    const result = await sb.syncRoutes(['--cloud-config', file]);
    expectExit(result, 2);
    expect(oneLineError(result)).toContain('"useManagedIdentityExtension" must be true or false');
  });

  it('an http:// --arm-endpoint without --allow-insecure-arm-endpoint', async () => {
    sb = await startSandbox({ nodes: workers(1) });
    const flags = sb.flags().filter((f) => f !== '--allow-insecure-arm-endpoint');
    const result = await runCli(['sync-routes', ...flags]);
    expectExit(result, 2);
    const line = oneLineError(result);
    expect(line).toContain(`--arm-endpoint: "${sb.sim.url}" uses plain http`);
    expect(line).toContain('--allow-insecure-arm-endpoint');
    expectUntouched(sb);
  });

  it('invalid numbers and durations name the flag', async () => {
    sb = await startSandbox({ nodes: workers(1) });
    const s = sb;
    const cases = [
      ['--route-limit', 'lots'],
      ['--poll-interval', '20'],
      ['--operation-timeout', '0s'],
      ['--max-write-attempts', '0'],
    ] as const;
    const results = await Promise.all(
      cases.map(([flag, value]) => runCli(['sync-routes', ...s.flags(), flag, value])),
    );
    results.forEach((result, i) => {
      const [flag, value] = cases[i]!;
      expectExit(result, 2);
      expect(oneLineError(result)).toContain(`error: ${flag}: "${value}"`);
    });
    expectUntouched(sb);
  });
});

describe('usage mistakes exit 2', () => {
  it('an unknown flag, with a usage hint', async () => {
    const result = await runCli(['sync-routes', '--frobnicate']);
    expectExit(result, 2);
    expect(stackFrames(result.stderr)).toEqual([]);
    expect(messageLines(result.stderr)).toEqual([
      "error: unknown option '--frobnicate'",
      '(run with --help for usage)',
    ]);
    expect(result.stdout).toBe('');
  });

  it('a misspelt flag, with a suggestion', async () => {
    const result = await runCli(['sync-routes', '--dryrun']);
    expectExit(result, 2);
    expect(result.stderr).toContain("error: unknown option '--dryrun'");
    expect(result.stderr).toContain('--dry-run?');
  });

  it('an invalid --output choice', async () => {
    const result = await runCli(['sync-routes', '--output', 'yaml']);
    expectExit(result, 2);
    expect(result.stderr).toContain("error: option '-o, --output <format>' argument 'yaml' is invalid");
  });

  it('an unknown subcommand', async () => {
    const result = await runCli(['sync-route']);
    expectExit(result, 2);
    expect(stackFrames(result.stderr)).toEqual([]);
    expect(result.stderr).toMatch(/^error: unknown command 'sync-route'/);
    expect(result.stderr).toContain('sync-routes');
  });

  it('no subcommand at all prints the usage', async () => {
    const result = await runCli([]);
    expectExit(result, 2);
    expect(result.stdout + result.stderr).toContain('sync-routes');
  });
});

describe('--help', () => {
  /** The flags of the reference's tables (docs/reference.md) under "Shared flags" and "`sync-routes`". */
  function readmeSyncFlags(): string[] {
    const readme = readFileSync(join(REPO_ROOT, 'docs', 'reference.md'), 'utf8');
    const section = (heading: string) => {
      const start = readme.indexOf(`\n${heading}\n`);
      expect(start, heading).toBeGreaterThan(0);
      const end = readme.indexOf('\n## ', start + heading.length + 2);
      return readme.slice(start, end);
    };
    const flags = [section('## Shared flags (`sync-routes`, `run`)'), section('## `sync-routes`')].flatMap(
      (text) => [...text.matchAll(/^\| `(--[a-z0-9-]+)/gm)].map((m) => m[1]!),
    );
    expect(flags.length).toBeGreaterThan(20);
    return flags;
  }

  it('on sync-routes lists every flag of the reference, and no undocumented one; exit 0', async () => {
    const result = await runCli(['sync-routes', '--help']);
    expectExit(result, 0);
    const helped = [...result.stdout.matchAll(/^ {2}(?:-\w, )?(--[a-z0-9-]+)/gm)].map((m) => m[1]!);
    const documented = readmeSyncFlags();
    expect([...helped].filter((f) => f !== '--help').sort()).toEqual([...documented].sort());
    // And the exit codes.
    expect(result.stdout).toContain('Exit codes:');
    expect(result.stderr).toBe('');
  });

  it('--version prints the version; exit 0', async () => {
    const result = await runCli(['--version']);
    expectExit(result, 0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('a reader that stops early', () => {
  it(
    '`sync-routes --help | head -1`: the CLI stops quietly (no EPIPE stack trace), exit 0',
    { timeout: 30_000 },
    async () => {
      const child = spawn(process.execPath, [ensureBundle(), 'sync-routes', '--help'], {
        env: cleanEnvironment(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // Like a head that has had its fill: the reading end is closed before the help is written.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(stderr).not.toMatch(/EPIPE|Unhandled|\n\s+at /);
      expect(code).toBe(0);
    },
  );
});
