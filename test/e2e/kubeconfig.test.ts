// End to end: the CLI finds its kubeconfig as kubectl does (DESIGN 4). A workstation with a working kubectl, only
// ~/.kube/config and nothing else, can dry-run; --context picks a context; a $KUBECONFIG list is merged; and when
// nothing is found the error names every place tried.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { expectExit, parseReport, runCli } from '../support/cli.ts';
import { routeFor, startSandbox, workers, type Sandbox } from '../support/sandbox.ts';

let sb: Sandbox | undefined;
let home: string | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
  if (home) rmSync(home, { recursive: true, force: true });
  home = undefined;
});

const nodes = workers(2);

/** A sandbox whose table already holds every route: a dry run has nothing to do. */
async function inSync(): Promise<Sandbox> {
  return startSandbox({ nodes, table: { routes: nodes.map((n) => routeFor(n)) } });
}

/** The sandbox flags without --kubeconfig: the CLI has to find the kubeconfig itself. */
function flagsWithoutKubeconfig(s: Sandbox): string[] {
  const flags = s.flags();
  const at = flags.indexOf('--kubeconfig');
  return [...flags.slice(0, at), ...flags.slice(at + 2)];
}

function homeWith(kubeconfig?: string): string {
  home = mkdtempSync(join(tmpdir(), 'arc-home-'));
  if (kubeconfig !== undefined) {
    mkdirSync(join(home, '.kube'));
    writeFileSync(join(home, '.kube', 'config'), kubeconfig, { mode: 0o600 });
  }
  return home;
}

interface KubeconfigDoc {
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: Record<string, unknown> }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  'current-context': string;
}

describe('kubeconfig as kubectl finds it', () => {
  it('a workstation dry run works with only ~/.kube/config present', async () => {
    sb = await inSync();
    const result = await runCli(
      ['sync-routes', ...flagsWithoutKubeconfig(sb), '--dry-run', '--output', 'json'],
      {
        env: { HOME: homeWith(sb.kube.kubeconfig()) },
      },
    );
    expectExit(result, 0);
    const report = parseReport(result);
    const [table] = report.tables;
    expect(table!.actions.keep).toHaveLength(nodes.length);
    expect([...table!.actions.create, ...table!.actions.update, ...table!.actions.delete]).toEqual([]);
    expect(sb.azureWrites()).toEqual([]);
    expect(sb.kubeWrites()).toEqual([]);
  });

  it('--context picks a context other than current-context', async () => {
    sb = await inSync();
    const doc = parse(sb.kube.kubeconfig()) as KubeconfigDoc;
    doc.clusters.push({
      name: 'elsewhere',
      cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true },
    });
    doc.contexts.push({ name: 'elsewhere', context: { cluster: 'elsewhere', user: 'fake' } });
    doc['current-context'] = 'elsewhere';
    const env = { HOME: homeWith(stringify(doc)) };

    const chosen = await runCli(
      ['sync-routes', ...flagsWithoutKubeconfig(sb), '--dry-run', '--context', 'fake'],
      { env },
    );
    expectExit(chosen, 0);

    const missing = await runCli(
      ['sync-routes', ...flagsWithoutKubeconfig(sb), '--dry-run', '--context', 'nope'],
      { env },
    );
    expectExit(missing, 2);
    expect(missing.stderr).toMatch(/no context "nope" \(contexts: .*fake.*\).*--context/);
  });

  it('merges a $KUBECONFIG list as kubectl does: the first file to set a name or current-context wins', async () => {
    sb = await inSync();
    const doc = parse(sb.kube.kubeconfig()) as KubeconfigDoc;
    const dir = homeWith();
    // The first file holds the working "fake" cluster and the current-context; the second a broken cluster of the
    // same name and another current-context, which must both lose, and the user, which the context needs.
    const first = join(dir, 'first.yaml');
    const second = join(dir, 'second.yaml');
    writeFileSync(
      first,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: doc.clusters,
        contexts: [{ name: 'merged', context: { cluster: 'fake', user: 'fake' } }],
        'current-context': 'merged',
        users: [],
      }),
    );
    writeFileSync(
      second,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'fake', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } },
        ],
        users: doc.users,
        contexts: [],
        'current-context': 'not-this-one',
      }),
    );
    const result = await runCli(['sync-routes', ...flagsWithoutKubeconfig(sb), '--dry-run'], {
      env: { HOME: dir, KUBECONFIG: `${join(dir, 'absent.yaml')}:${first}:${second}` },
    });
    expectExit(result, 0);
  });

  it('when nothing is found, says what was tried and how to fix it, in one line', async () => {
    sb = await inSync();
    const dir = homeWith();
    const result = await runCli(['sync-routes', ...flagsWithoutKubeconfig(sb), '--dry-run'], {
      env: { HOME: dir, KUBECONFIG: join(dir, 'gone.yaml') },
    });
    expectExit(result, 2);
    const line = result.stderr.trim().split('\n').at(-1)!;
    expect(line).toContain('No kubeconfig found');
    expect(line).toContain(`$KUBECONFIG (${join(dir, 'gone.yaml')}: no such file)`);
    expect(line).toContain('the in-cluster configuration (KUBERNETES_SERVICE_HOST is not set)');
    expect(line).toContain(`${join(dir, '.kube', 'config')} (no such file)`);
    expect(line).toContain('--kubeconfig');
  });
});
