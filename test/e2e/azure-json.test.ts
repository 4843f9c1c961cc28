// End to end: a real-shaped cloud-controller-manager azure.json given to the CLI draws no warning, and the upstream
// keys that do not apply to routes are listed once, at debug.
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { expectExit } from '../support/cli.ts';
import { routeFor, startSandbox, workers, type Sandbox } from '../support/sandbox.ts';

const CCM_JSON = fileURLToPath(new URL('../fixtures/azure-json/ccm.json', import.meta.url));

let sb: Sandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

it('a CCM azure.json: no warning, its ignored keys logged once at debug', async () => {
  const nodes = workers(2);
  sb = await startSandbox({ nodes, table: { routes: nodes.map((n) => routeFor(n)) } });
  const result = await sb.syncRoutes(['--cloud-config', CCM_JSON, '--dry-run', '--log-level', 'debug']);
  expectExit(result, 0);
  const lines = result.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; keys?: string[] });
  expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  const ignored = lines.filter((l) => l.msg === 'azure.json keys that do not apply to routes are ignored');
  expect(ignored).toHaveLength(1);
  expect(ignored[0]!.level).toBe(20);
  expect(ignored[0]!.keys).toEqual(
    expect.arrayContaining(['enableVmssFlexNodes', 'loadBalancerSku', 'cloudProviderBackoff']),
  );
  expect(result.stderr).not.toContain('ccm-sp-secret-value');
});
