// The install commands the documentation gives, rendered as written: every `helm install` in the migration guide
// and the README's quick install must render, and every object name the guide then uses (the Deployment, the
// Lease, the ServiceAccount of the federated credential's subject) must be a name the chart really renders.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { CHART, ROOT, helm, valuesFile, type Manifest } from './helm.ts';

interface Command {
  readonly release: string;
  readonly namespace: string;
  readonly sets: readonly string[];
  readonly text: string;
}

/** Every `helm install RELEASE charts/azure-route-controller ...` in a Markdown file, with its continuation lines. */
function helmInstalls(markdown: string): Command[] {
  const commands: Command[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^helm install \S+ charts\/azure-route-controller/.test(lines[i]!)) continue;
    let text = lines[i]!;
    while (text.trimEnd().endsWith('\\') && i + 1 < lines.length)
      text = `${text.trimEnd().slice(0, -1)} ${lines[++i]!}`;
    const words = text.replace(/#.*$/, '').match(/'[^']*'|"[^"]*"|\S+/g)!;
    const unquote = (w: string) => w.replace(/^['"]|['"]$/g, '');
    const sets = words.flatMap((w, j) => (w === '--set' ? [unquote(words[j + 1]!)] : []));
    const namespace = unquote(words[words.indexOf('-n') + 1] ?? 'default');
    commands.push({ release: words[2]!, namespace, sets, text });
  }
  return commands;
}

async function render(command: Command, extraValues?: object): Promise<Manifest[]> {
  const args = ['template', command.release, CHART, '--namespace', command.namespace];
  for (const set of command.sets) args.push('--set', set);
  if (extraValues) args.push('-f', valuesFile(extraValues));
  const result = await helm(args);
  expect(result.code, `${command.text}\n${result.stderr}`).toBe(0);
  return parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

function named(manifests: readonly Manifest[], kind: string): string[] {
  return manifests.filter((m) => m.kind === kind).map((m) => m.metadata.name);
}

/** The Lease the controller takes: its --leader-elect-lease-name argument. */
function leaseNames(manifests: readonly Manifest[]): string[] {
  return manifests
    .filter((m) => m.kind === 'Deployment')
    .flatMap((m) => {
      const spec = m['spec'] as { template: { spec: { containers: { args: string[] }[] } } };
      return spec.template.spec.containers[0]!.args.flatMap((a) => {
        const match = /^--leader-elect-lease-name=(.+)$/.exec(a);
        return match ? [match[1]!] : [];
      });
    });
}

describe('docs/migrating-from-ccm.md', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'migrating-from-ccm.md'), 'utf8');
  const commands = helmInstalls(doc);

  it('gives helm install commands that render as written', async () => {
    expect(commands.length).toBeGreaterThanOrEqual(2);
    for (const command of commands) {
      const manifests = await render(command);
      expect(named(manifests, 'Deployment'), command.text).toHaveLength(1);
    }
  });

  it('names the objects as the chart renders them (Deployment, Lease, ServiceAccount of the subject)', async () => {
    const manifests = await render(commands[0]!);
    const deployment = named(manifests, 'Deployment')[0]!;
    for (const [, name] of doc.matchAll(/deploy\/([a-z0-9-]+)/g)) expect(name).toBe(deployment);
    const leases = [...doc.matchAll(/get lease ([a-z0-9-]+)/g)].map((m) => m[1]!);
    expect(leases.length).toBeGreaterThan(0);
    for (const name of leases) expect(leaseNames(manifests)).toContain(name);
    for (const [, ns, sa] of doc.matchAll(/system:serviceaccount:([a-z0-9-]+):([a-z0-9-]+)/g)) {
      expect(ns).toBe(commands[0]!.namespace);
      expect(named(manifests, 'ServiceAccount')).toContain(sa);
    }
    // The label selector the guide reads names back with selects the Deployment.
    const labels = manifests.find((m) => m.kind === 'Deployment')!.metadata.labels!;
    expect(labels['app.kubernetes.io/instance']).toBe(commands[0]!.release);
  });
});

describe('README.md', () => {
  it("renders the quick install's values.yaml with its helm install command", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const values = /```yaml\n\s*# values\.yaml\n([\s\S]*?)```/.exec(readme);
    expect(values, 'the values.yaml block').not.toBeNull();
    const indented = values![1]!.split('\n');
    const indent = Math.min(
      ...indented.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length),
    );
    const parsed = parseYaml(indented.map((l) => l.slice(indent)).join('\n')) as object;
    const command = /helm install (\S+) charts\/azure-route-controller -n (\S+) -f values\.yaml/.exec(readme);
    expect(command, 'the helm install command').not.toBeNull();
    const manifests = await render(
      { release: command![1]!, namespace: command![2]!, sets: [], text: command![0] },
      parsed,
    );
    expect(named(manifests, 'Deployment')).toEqual(['azure-route-controller']);
  });
});
