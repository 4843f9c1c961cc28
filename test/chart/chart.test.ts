// The Helm chart: lint, render every variant once, and hold the rendered objects to the CLI, the Dockerfile
// and the RBAC the code needs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProgram, type CliIo } from '../../src/cli/program.ts';
import { PATHS } from '../../src/server/http.ts';
import {
  CHART,
  NAMESPACE,
  RELEASE,
  ROOT,
  chartYaml,
  helm,
  template,
  valuesFile,
  type Manifest,
  type Rendered,
} from './helm.ts';

// ---------------------------------------------------------------------------------------------------------------
// Shapes of the rendered objects, as far as the assertions read them.

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: unknown;
  };
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Volume {
  name: string;
  secret?: { secretName: string };
  hostPath?: { path: string; type?: string };
  projected?: { sources: { serviceAccountToken?: { audience: string; path: string } }[] };
  emptyDir?: object;
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
  hostNetwork?: boolean;
  dnsPolicy?: string;
  securityContext?: Record<string, unknown>;
  tolerations?: { key: string; operator: string; effect?: string }[];
  topologySpreadConstraints?: {
    topologyKey: string;
    labelSelector?: { matchLabels?: Record<string, string> };
  }[];
  restartPolicy?: string;
  containers: Container[];
  volumes?: Volume[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const all = (r: Rendered, kind: string) => r.manifests.filter((m) => m.kind === kind);
function one(r: Rendered, kind: string): Manifest {
  const found = all(r, kind);
  expect(
    found.map((m) => m.metadata.name),
    `exactly one ${kind}`,
  ).toHaveLength(1);
  return found[0]!;
}
const deployment = (r: Rendered) =>
  one(r, 'Deployment') as Manifest & {
    spec: {
      replicas: number;
      strategy: unknown;
      selector: { matchLabels: Record<string, string> };
      template: PodTemplate;
    };
  };
const podTemplate = (r: Rendered) => deployment(r).spec.template;
const container = (r: Rendered) => podTemplate(r).spec.containers[0]!;
function jobTemplate(r: Rendered): PodTemplate {
  const job = all(r, 'Job')[0] as (Manifest & { spec: { template: PodTemplate } }) | undefined;
  if (job) return job.spec.template;
  return (one(r, 'CronJob') as Manifest & { spec: { jobTemplate: { spec: { template: PodTemplate } } } }).spec
    .jobTemplate.spec.template;
}
function podTemplates(r: Rendered): PodTemplate[] {
  const templates: PodTemplate[] = [];
  for (const m of r.manifests) {
    const spec = m['spec'] as
      { template?: PodTemplate; jobTemplate?: { spec: { template: PodTemplate } } } | undefined;
    if (spec?.template) templates.push(spec.template);
    if (spec?.jobTemplate) templates.push(spec.jobTemplate.spec.template);
  }
  return templates;
}
const rules = (m: Manifest | undefined) => (m?.['rules'] ?? []) as Rule[];
const env = (c: Container, name: string) => c.env?.find((e) => e.name === name);
/** `--flag=value` -> ['--flag', 'value']; `--flag` -> ['--flag', undefined]. */
function splitArg(arg: string): [string, string | undefined] {
  const i = arg.indexOf('=');
  return i < 0 ? [arg, undefined] : [arg.slice(0, i), arg.slice(i + 1)];
}
const argValues = (args: readonly string[], flag: string) =>
  args
    .map(splitArg)
    .filter(([f]) => f === flag)
    .map(([, v]) => v);

// ---------------------------------------------------------------------------------------------------------------
// The CLI as commander declares it: the source of truth for every rendered argument.

const silentIo: CliIo = {
  stdout: { write: () => true },
  stderr: { write: () => true },
  environment: {
    env: {},
    readFile: () => {
      throw new Error('no files in this test');
    },
  },
};

function subcommand(name: string): Command {
  const program = buildProgram(silentIo, () => undefined);
  const cmd = program.commands.find((c) => c.name() === name);
  if (!cmd) throw new Error(`the CLI has no ${name} command`);
  return cmd;
}

/**
 * Every argument after the subcommand must be an option commander declares for it, take a value exactly when
 * the option does, and survive commander's own parse (choices, custom parsers). The action is replaced, so
 * nothing runs.
 */
async function expectAcceptedBy(commandName: string, args: readonly string[]): Promise<void> {
  const cmd = subcommand(commandName);
  const options = new Map(cmd.options.map((o) => [o.long, o] as const));
  for (const arg of args) {
    const [flag, value] = splitArg(arg);
    const option = options.get(flag);
    expect(option, `${commandName} accepts ${flag}`).toBeDefined();
    if (value === undefined) {
      expect(option!.required, `${flag} needs a value`).toBe(false);
    } else {
      expect(option!.required || option!.optional, `${flag} takes a value`).toBe(true);
      if (option!.argChoices) expect(option!.argChoices, `${flag} choices`).toContain(value);
    }
  }
  let parsed: Record<string, unknown> | undefined;
  cmd.action((opts: Record<string, unknown>) => {
    parsed = opts;
  });
  await cmd.parseAsync([...args], { from: 'user' });
  expect(parsed, `${commandName} parsed ${args.join(' ')}`).toBeDefined();
}

// ---------------------------------------------------------------------------------------------------------------
// The variants. Each is rendered once, all in parallel, before the tests read them.

const SUB = '3f2c9a61-5b8e-4d0a-9c47-8e1d2b6a7f30';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '6d3c1f0e-8b2a-4c5d-9e7f-1a2b3c4d5e6f';
const FAKE_SECRET = 'fAkE~SeCrEt.value-that-must-never-render-0123456789';

const azureBase = {
  subscriptionId: SUB,
  resourceGroup: 'kubernetes',
  routeTables: ['kubernetes-routes', 'other-rg/extra-routes'],
};
/**
 * What the chart requires: the cluster CIDRs (DESIGN 2.1: --cluster-cidr is required) and a route table the
 * controller can resolve (the render refuses what would crash-loop the controller at start-up).
 */
const REQUIRED = {
  clusterCIDRs: ['10.200.0.0/16'],
  azure: { subscriptionId: SUB, resourceGroup: 'kubernetes', routeTables: ['kubernetes-routes'] },
};
const VARIANTS = {
  /** The defaults, plus the one required value. */
  defaults: REQUIRED,
  managedIdentity: {
    azure: { ...azureBase, identity: { type: 'managedIdentity', clientId: CLIENT } },
    clusterCIDRs: ['10.200.0.0/16', 'fd00:10:200::/56'],
  },
  workloadIdentity: {
    azure: { ...azureBase, identity: { type: 'workloadIdentity', clientId: CLIENT, tenantId: TENANT } },
    clusterCIDRs: ['10.200.0.0/16'],
  },
  workloadIdentityNoWebhook: {
    ...REQUIRED,
    azure: {
      ...azureBase,
      identity: {
        type: 'workloadIdentity',
        clientId: CLIENT,
        tenantId: TENANT,
        workloadIdentity: { webhook: false },
      },
    },
  },
  servicePrincipal: {
    ...REQUIRED,
    azure: {
      ...azureBase,
      identity: {
        type: 'servicePrincipal',
        clientId: CLIENT,
        tenantId: TENANT,
        servicePrincipal: { existingSecret: 'route-controller-sp', clientSecretKey: 'password' },
      },
    },
    syncJob: { enabled: true },
  },
  azureJsonSecret: {
    ...REQUIRED,
    azure: {
      identity: {
        type: 'azureJsonSecret',
        azureJson: { existingSecret: 'azure-cloud-provider', key: 'cloud-config' },
      },
    },
    syncJob: { enabled: true, mode: 'cronjob' },
  },
  azureJsonHostPath: {
    ...REQUIRED,
    azure: { identity: { type: 'azureJsonHostPath' } },
    syncJob: { enabled: true },
  },
  single: {
    ...REQUIRED,
    replicaCount: 1,
    leaderElection: { enabled: false },
    controller: { nodeConditions: false, allowEmptyNodeList: true, logLevel: 'debug' },
    azure: azureBase,
    dnsPolicy: 'Default',
  },
  syncHookDryRun: {
    ...REQUIRED,
    azure: { ...azureBase, location: 'westeurope' },
    controller: { nodeConditions: false },
    syncJob: { enabled: true, mode: 'hook', dryRun: true, createRouteTable: true, output: 'json' },
  },
  hostNetworkMetrics: {
    ...REQUIRED,
    azure: { ...azureBase, cloud: 'AzureChinaCloud' },
    hostNetwork: { enabled: true, port: 10299 },
    metrics: {
      bindHost: '::',
      service: { enabled: true },
      serviceMonitor: { enabled: true, labels: { release: 'prom' } },
    },
    leaderElection: { leaseName: 'routes-lease' },
    controller: { extraArgs: ['--max-delay=3s'] },
  },
} as const;
type Variant = keyof typeof VARIANTS;

const rendered = {} as Record<Variant, Rendered>;
beforeAll(async () => {
  const entries = await Promise.all(
    (Object.keys(VARIANTS) as Variant[]).map(async (name) => [name, await template(VARIANTS[name])] as const),
  );
  for (const [name, r] of entries) rendered[name] = r;
});
const variants = () => Object.keys(VARIANTS) as Variant[];

// ---------------------------------------------------------------------------------------------------------------

describe('helm lint', () => {
  it('is clean with the defaults (plus the required clusterCIDRs) and with every feature on, also with --strict', async () => {
    const everything = valuesFile({
      ...VARIANTS.hostNetworkMetrics,
      syncJob: { enabled: true, mode: 'cronjob', dryRun: true },
      azure: { ...azureBase, identity: { type: 'workloadIdentity', clientId: CLIENT } },
    });
    const results = await Promise.all([
      helm(['lint', CHART, '-f', valuesFile(REQUIRED)]),
      helm(['lint', CHART, '--strict', '-f', valuesFile(REQUIRED)]),
      helm(['lint', CHART, '--strict', '-f', everything]),
    ]);
    for (const result of results) {
      expect(result.stderr + result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
      expect(result.code, result.stdout + result.stderr).toBe(0);
    }
  });
});

describe('every rendered object', () => {
  it('carries the recommended labels, and so does every pod template', () => {
    const { version, appVersion } = chartYaml();
    for (const name of variants()) {
      const r = rendered[name];
      expect(r.manifests.length).toBeGreaterThan(0);
      const labelled = [
        ...r.manifests.map((m) => m.metadata.labels ?? {}),
        ...podTemplates(r).map((t) => t.metadata.labels),
      ];
      for (const labels of labelled) {
        expect(labels, name).toMatchObject({
          'app.kubernetes.io/name': 'azure-route-controller',
          'app.kubernetes.io/instance': RELEASE,
          'app.kubernetes.io/version': appVersion,
          'app.kubernetes.io/managed-by': 'Helm',
          'helm.sh/chart': `azure-route-controller-${version}`,
        });
      }
    }
  });

  it('is namespaced in the release namespace, unless cluster-scoped', () => {
    for (const name of variants()) {
      for (const m of rendered[name].manifests) {
        if (m.kind === 'ClusterRole' || m.kind === 'ClusterRoleBinding')
          expect(m.metadata.namespace).toBeUndefined();
        else expect(m.metadata.namespace, `${name} ${m.kind}`).toBe(NAMESPACE);
      }
    }
  });

  it('renders no Secret and no ConfigMap: the chart never holds configuration or credentials itself', () => {
    for (const name of variants()) {
      expect(rendered[name].manifests.map((m) => m.kind)).not.toContain('Secret');
      expect(rendered[name].manifests.map((m) => m.kind)).not.toContain('ConfigMap');
    }
  });
});

describe('the image', () => {
  it("defaults its tag to the chart's appVersion, which is package.json's version", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(chartYaml().appVersion).toBe(pkg.version);
    expect(container(rendered.defaults).image).toBe(
      `ghcr.io/azure-route-controller/azure-route-controller:${pkg.version}`,
    );
    expect(jobTemplate(rendered.servicePrincipal).spec.containers[0]!.image).toBe(
      container(rendered.defaults).image,
    );
  });

  it('runs the Dockerfile ENTRYPOINT: the chart sets no command, only the arguments', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const entrypoints = [...dockerfile.matchAll(/^ENTRYPOINT\s+(\[.*\])\s*$/gm)];
    expect(entrypoints).toHaveLength(1);
    const entrypoint = JSON.parse(entrypoints[0]![1]!) as string[];
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    expect(entrypoint[0]).toBe('/nodejs/bin/node');
    expect(entrypoint.at(-1)).toBe(`/app/${pkg.bin['azure-route-controller']}`);
    // Between them, only Node's own flags (the benchmark reads and uses the same ones).
    for (const flag of entrypoint.slice(1, -1)) expect(flag).toMatch(/^--[a-z-]+(=\S+)?$/);
    // The CLI reads ../../package.json: the final stage puts it next to /app/dist, beside the file the
    // ENTRYPOINT runs, which it copies from the build stage to the same path.
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(finalStage).toMatch(/^WORKDIR \/app$/m);
    expect(finalStage).toMatch(/^COPY package\.json \.\/$/m);
    const entry = entrypoint.at(-1)!;
    expect(finalStage).toContain(`\nCOPY --from=build ${entry} ./${entry.slice('/app/'.length)}\n`);
    expect(finalStage).toMatch(/^USER 65532(:65532)?$/m);

    for (const name of variants()) {
      for (const t of podTemplates(rendered[name])) {
        const c = t.spec.containers[0]!;
        expect(c.command, name).toBeUndefined();
        expect(['run', 'sync-routes']).toContain(c.args[0]);
      }
    }
  });
});

describe('the arguments', () => {
  it('of the Deployment are all options that `run` accepts', async () => {
    for (const name of variants()) {
      const args = container(rendered[name]).args;
      expect(args[0], name).toBe('run');
      await expectAcceptedBy('run', args.slice(1));
    }
  });

  it('of the sync Job and CronJob are all options that `sync-routes` accepts', async () => {
    for (const name of ['servicePrincipal', 'azureJsonSecret', 'syncHookDryRun'] as const) {
      const args = jobTemplate(rendered[name]).spec.containers[0]!.args;
      expect(args[0], name).toBe('sync-routes');
      await expectAcceptedBy('sync-routes', args.slice(1));
    }
  });

  it('carry the route table settings from values', () => {
    const args = container(rendered.managedIdentity).args;
    expect(argValues(args, '--subscription-id')).toEqual([SUB]);
    expect(argValues(args, '--resource-group')).toEqual(['kubernetes']);
    expect(argValues(args, '--route-table')).toEqual(['kubernetes-routes', 'other-rg/extra-routes']);
    expect(argValues(args, '--cluster-cidr')).toEqual(['10.200.0.0/16,fd00:10:200::/56']);
    expect(argValues(args, '--leader-elect')).toEqual(['true']);
    expect(argValues(args, '--cloud')).toEqual([]);
    expect(argValues(container(rendered.hostNetworkMetrics).args, '--cloud')).toEqual(['AzureChinaCloud']);
    expect(container(rendered.hostNetworkMetrics).args.at(-1)).toBe('--max-delay=3s');

    const single = container(rendered.single).args;
    expect(argValues(single, '--leader-elect')).toEqual(['false']);
    expect(single).toContain('--no-node-conditions');
    expect(single).toContain('--allow-empty-node-list');
    expect(argValues(single, '--log-level')).toEqual(['debug']);
    expect(single.some((a) => a.startsWith('--leader-elect-'))).toBe(false);

    const job = jobTemplate(rendered.syncHookDryRun).spec.containers[0]!.args;
    expect(job).toContain('--dry-run');
    expect(job).toContain('--create-route-table');
    expect(argValues(job, '--location')).toEqual(['westeurope']);
    expect(argValues(job, '--output')).toEqual(['json']);
    expect(job).toContain('--no-node-conditions');
  });
});

describe('the pods', () => {
  it('run with the restricted security profile as the distroless nonroot user', () => {
    for (const name of variants()) {
      for (const t of podTemplates(rendered[name])) {
        expect(t.spec.securityContext, name).toMatchObject({
          runAsNonRoot: true,
          runAsUser: 65532,
          runAsGroup: 65532,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(t.spec.containers[0]!.securityContext, name).toMatchObject({
          runAsNonRoot: true,
          runAsUser: 65532,
          runAsGroup: 65532,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        // The read-only root file system gets a writable /tmp.
        expect(t.spec.containers[0]!.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
        expect(t.spec.volumes?.find((v) => v.name === 'tmp')?.emptyDir).toBeDefined();
        // The controller talks to the API server, so the pod mounts the token; the ServiceAccount opts out.
        expect(t.spec.automountServiceAccountToken).toBe(true);
        expect(t.spec.serviceAccountName).toBe(`${RELEASE}-azure-route-controller`);
      }
      const sa = one(rendered[name], 'ServiceAccount');
      expect(sa['automountServiceAccountToken']).toBe(false);
    }
  });

  it('probe /healthz and /readyz (PATHS) on the port that --bind-address opens', () => {
    const cases: [Variant, string, number][] = [
      ['defaults', '0.0.0.0:8080', 8080],
      ['hostNetworkMetrics', '[::]:10299', 10299],
    ];
    for (const [name, bind, port] of cases) {
      const c = container(rendered[name]);
      expect(argValues(c.args, '--bind-address')).toEqual([bind]);
      const named = (p: string | number) =>
        typeof p === 'number' ? p : c.ports?.find((x) => x.name === p)?.containerPort;
      expect(c.livenessProbe?.httpGet.path).toBe(PATHS.healthz);
      expect(c.readinessProbe?.httpGet.path).toBe(PATHS.readyz);
      expect(named(c.livenessProbe!.httpGet.port)).toBe(port);
      expect(named(c.readinessProbe!.httpGet.port)).toBe(port);
    }
  });

  it('have requests and limits', () => {
    for (const t of [podTemplate(rendered.defaults), jobTemplate(rendered.servicePrincipal)]) {
      const resources = t.spec.containers[0]!.resources!;
      expect(Object.keys(resources.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
      expect(Object.keys(resources.limits ?? {}).sort()).toEqual(['cpu', 'memory']);
    }
  });

  it('tolerate the taints of nodes whose networking is not up yet, and of control plane nodes', () => {
    for (const t of podTemplates(rendered.servicePrincipal)) {
      const tolerations = t.spec.tolerations ?? [];
      for (const key of [
        'node.kubernetes.io/network-unavailable',
        'node.kubernetes.io/not-ready',
        'node-role.kubernetes.io/control-plane',
      ]) {
        expect(tolerations).toContainEqual({ key, operator: 'Exists', effect: 'NoSchedule' });
      }
    }
  });

  it('are system-cluster-critical, spread over nodes, and guarded by a PodDisruptionBudget with 2 replicas', () => {
    const r = rendered.defaults;
    const d = deployment(r);
    expect(d.spec.replicas).toBe(2);
    expect(podTemplate(r).spec.priorityClassName).toBe('system-cluster-critical');
    const spread = podTemplate(r).spec.topologySpreadConstraints ?? [];
    expect(spread).toHaveLength(1);
    expect(spread[0]!.topologyKey).toBe('kubernetes.io/hostname');
    expect(spread[0]!.labelSelector?.matchLabels).toEqual(d.spec.selector.matchLabels);
    const pdb = one(r, 'PodDisruptionBudget') as Manifest & { spec: Record<string, unknown> };
    expect(pdb.spec['maxUnavailable']).toBe(1);
    expect(pdb.spec['selector']).toEqual(d.spec.selector);
    // The selector picks the controller pods, never the sync Job's.
    expect(d.spec.selector.matchLabels['app.kubernetes.io/component']).toBe('controller');
    expect(jobTemplate(rendered.servicePrincipal).metadata.labels['app.kubernetes.io/component']).toBe(
      'sync-routes',
    );

    expect(all(rendered.single, 'PodDisruptionBudget')).toEqual([]);
    expect(deployment(rendered.single).spec.replicas).toBe(1);
  });

  it('get the Lease namespace and identity from the downward API', () => {
    const c = container(rendered.defaults);
    expect(env(c, 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
    expect(env(c, 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(argValues(c.args, '--leader-elect-namespace')).toEqual([]);
  });

  it('use the host network only when asked, with its own port and ClusterFirstWithHostNet', () => {
    expect(podTemplate(rendered.defaults).spec.hostNetwork).toBeUndefined();
    expect(podTemplate(rendered.defaults).spec.dnsPolicy).toBeUndefined();
    expect(podTemplate(rendered.single).spec.dnsPolicy).toBe('Default');
    const spec = podTemplate(rendered.hostNetworkMetrics).spec;
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(spec.containers[0]!.ports).toEqual([
      { name: 'http-metrics', containerPort: 10299, protocol: 'TCP' },
    ]);
    // The host port is taken where the old pod runs: replace pods one at a time, without a surge.
    expect(deployment(rendered.hostNetworkMetrics).spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 1, maxSurge: 0 },
    });
  });
});

describe('RBAC', () => {
  const nodes: Rule = { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] };
  const nodeStatus: Rule = { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] };
  const events: Rule = { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] };
  const leases = (name: string): Rule[] => [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: [name],
      verbs: ['get', 'update'],
    },
  ];

  it('grants exactly what the defaults need: nodes, their status, events, and our Lease in the release namespace', () => {
    const r = rendered.defaults;
    expect(rules(one(r, 'ClusterRole'))).toEqual([nodes, nodeStatus, events]);
    const role = one(r, 'Role');
    expect(role.metadata.namespace).toBe(NAMESPACE);
    expect(rules(role)).toEqual(leases(`${RELEASE}-azure-route-controller`));
    expect(argValues(container(r).args, '--leader-elect-lease-name')).toEqual([
      `${RELEASE}-azure-route-controller`,
    ]);
    expect(rules(one(rendered.hostNetworkMetrics, 'Role'))).toEqual(leases('routes-lease'));
  });

  it('drops the Role without leader election, and nodes/status and events without node conditions', () => {
    const r = rendered.single;
    expect(rules(one(r, 'ClusterRole'))).toEqual([nodes]);
    expect(all(r, 'Role')).toEqual([]);
    expect(all(r, 'RoleBinding')).toEqual([]);
  });

  it('keeps events for a sync Job that writes, but not for a dry run', () => {
    expect(rules(one(rendered.syncHookDryRun, 'ClusterRole'))).toEqual([nodes]);
    expect(rules(one(rendered.servicePrincipal, 'ClusterRole'))).toEqual([nodes, nodeStatus, events]);
  });

  it('binds the roles to the ServiceAccount the pods run as', () => {
    const r = rendered.defaults;
    const subject = {
      kind: 'ServiceAccount',
      name: `${RELEASE}-azure-route-controller`,
      namespace: NAMESPACE,
    };
    for (const [binding, kind] of [
      ['ClusterRoleBinding', 'ClusterRole'],
      ['RoleBinding', 'Role'],
    ] as const) {
      const b = one(r, binding);
      expect(b['subjects']).toEqual([subject]);
      expect(b['roleRef']).toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind,
        name: one(r, kind).metadata.name,
      });
    }
  });
});

describe('the Azure identity', () => {
  it('managedIdentity: the user-assigned client ID through AZURE_CLIENT_ID, pinned to ManagedIdentityCredential', () => {
    const c = container(rendered.managedIdentity);
    expect(env(c, 'AZURE_CLIENT_ID')).toEqual({ name: 'AZURE_CLIENT_ID', value: CLIENT });
    expect(env(c, 'AZURE_TOKEN_CREDENTIALS')?.value).toBe('ManagedIdentityCredential');
    expect(env(container(rendered.defaults), 'AZURE_CLIENT_ID')).toBeUndefined();
  });

  it('workloadIdentity: ServiceAccount annotations and the webhook pod label', () => {
    const r = rendered.workloadIdentity;
    expect(one(r, 'ServiceAccount').metadata.annotations).toEqual({
      'azure.workload.identity/client-id': CLIENT,
      'azure.workload.identity/tenant-id': TENANT,
    });
    expect(podTemplate(r).metadata.labels['azure.workload.identity/use']).toBe('true');
    expect(env(container(r), 'AZURE_TOKEN_CREDENTIALS')?.value).toBe('WorkloadIdentityCredential');
    // The webhook injects the rest.
    expect(env(container(r), 'AZURE_FEDERATED_TOKEN_FILE')).toBeUndefined();
  });

  it('workloadIdentity without the webhook: the chart projects the token and sets the variables', () => {
    const r = rendered.workloadIdentityNoWebhook;
    const t = podTemplate(r);
    expect(t.metadata.labels['azure.workload.identity/use']).toBeUndefined();
    const c = t.spec.containers[0]!;
    expect(env(c, 'AZURE_CLIENT_ID')?.value).toBe(CLIENT);
    expect(env(c, 'AZURE_TENANT_ID')?.value).toBe(TENANT);
    const file = env(c, 'AZURE_FEDERATED_TOKEN_FILE')?.value ?? '';
    const mount = c.volumeMounts?.find((m) => m.name === 'azure-identity-token');
    const volume = t.spec.volumes?.find((v) => v.name === 'azure-identity-token');
    const token = volume?.projected?.sources[0]?.serviceAccountToken;
    expect(token?.audience).toBe('api://AzureADTokenExchange');
    expect(file).toBe(`${mount?.mountPath}/${token?.path}`);
    expect(mount?.readOnly).toBe(true);
  });

  it('servicePrincipal: IDs as values, the client secret only through a secretKeyRef to the existing Secret', () => {
    for (const t of podTemplates(rendered.servicePrincipal)) {
      const c = t.spec.containers[0]!;
      expect(env(c, 'AZURE_CLIENT_ID')?.value).toBe(CLIENT);
      expect(env(c, 'AZURE_TENANT_ID')?.value).toBe(TENANT);
      expect(env(c, 'AZURE_CLIENT_SECRET')).toEqual({
        name: 'AZURE_CLIENT_SECRET',
        valueFrom: { secretKeyRef: { name: 'route-controller-sp', key: 'password' } },
      });
      expect(env(c, 'AZURE_TOKEN_CREDENTIALS')?.value).toBe('EnvironmentCredential');
    }
  });

  it('azureJsonSecret: the existing Secret mounted read-only and passed as --cloud-config', () => {
    for (const t of podTemplates(rendered.azureJsonSecret)) {
      const c = t.spec.containers[0]!;
      const volume = t.spec.volumes?.find((v) => v.secret?.secretName === 'azure-cloud-provider');
      expect(volume?.secret).toMatchObject({ items: [{ key: 'cloud-config', path: 'azure.json' }] });
      const mount = c.volumeMounts?.find((m) => m.name === volume?.name);
      expect(mount?.readOnly).toBe(true);
      expect(argValues(c.args, '--cloud-config')).toEqual([`${mount?.mountPath}/azure.json`]);
      // azure.json decides the credential: nothing pins or overrides it.
      expect((c.env ?? []).filter((e) => e.name.startsWith('AZURE_'))).toEqual([]);
    }
  });

  it("azureJsonHostPath: the node's /etc/kubernetes/azure.json mounted read-only as a file and passed as --cloud-config", () => {
    const templates = podTemplates(rendered.azureJsonHostPath);
    expect(templates.length).toBe(2); // the Deployment and the sync Job
    for (const t of templates) {
      const c = t.spec.containers[0]!;
      const volume = t.spec.volumes?.find((v) => v.hostPath !== undefined);
      expect(volume?.hostPath).toEqual({ path: '/etc/kubernetes/azure.json', type: 'File' });
      const mount = c.volumeMounts?.find((m) => m.name === volume?.name);
      expect(mount?.readOnly).toBe(true);
      expect(argValues(c.args, '--cloud-config')).toEqual([mount?.mountPath]);
      expect((c.env ?? []).filter((e) => e.name.startsWith('AZURE_'))).toEqual([]);
    }
  });

  it('never puts a secret value into an env value, an argument or a ConfigMap', async () => {
    // The schema has no place for a secret: the keys a user might reach for are rejected, without echoing the value.
    for (const key of [
      'azure.identity.servicePrincipal.clientSecret',
      'azure.identity.clientSecret',
      'azure.identity.azureJson.content',
    ]) {
      const path = key.split('.');
      const values: Record<string, unknown> = {};
      let node = values;
      for (const part of path.slice(0, -1)) node = node[part] = {} as Record<string, unknown>;
      node[path.at(-1)!] = FAKE_SECRET;
      const result = await helm(['template', RELEASE, CHART, '-f', valuesFile(values)]);
      expect(result.code, key).not.toBe(0);
      expect(result.stderr).toContain(path.at(-1));
      expect(result.stdout + result.stderr).not.toContain(FAKE_SECRET);
    }
    // What the chart does render for the secret-bearing modes references Secrets only by name.
    for (const name of ['servicePrincipal', 'azureJsonSecret'] as const) {
      for (const t of podTemplates(rendered[name])) {
        const c = t.spec.containers[0]!;
        for (const e of c.env ?? []) {
          if (/SECRET|PASSWORD|CERT/i.test(e.name)) {
            expect(e.value, e.name).toBeUndefined();
            expect(e.valueFrom?.secretKeyRef, e.name).toBeDefined();
          }
          expect(e.valueFrom?.configMapKeyRef, e.name).toBeUndefined();
        }
        for (const arg of c.args) expect(arg).not.toMatch(/secret|password/i);
      }
      expect(rendered[name].text).not.toContain(FAKE_SECRET);
    }
  });
});

describe('the sync Job', () => {
  it('is off by default', () => {
    expect(all(rendered.defaults, 'Job')).toEqual([]);
    expect(all(rendered.defaults, 'CronJob')).toEqual([]);
  });

  it('as a hook runs sync-routes after install and upgrade, with the same identity and settings', () => {
    const job = one(rendered.servicePrincipal, 'Job');
    expect(job.metadata.annotations?.['helm.sh/hook']).toBe('post-install,post-upgrade');
    const t = jobTemplate(rendered.servicePrincipal);
    expect(t.spec.restartPolicy).toBe('Never');
    expect(t.spec.serviceAccountName).toBe(podTemplate(rendered.servicePrincipal).spec.serviceAccountName);
    const shared = (args: string[]) =>
      args.filter(
        (a) =>
          !/^--(leader-elect|bind-address|debounce|max-delay|resync-period|backoff|shutdown|output)/.test(a),
      );
    expect(shared(t.spec.containers[0]!.args.slice(1))).toEqual(
      shared(container(rendered.servicePrincipal).args.slice(1)),
    );
  });

  it('as a CronJob runs on its schedule', () => {
    const cron = one(rendered.azureJsonSecret, 'CronJob') as Manifest & { spec: Record<string, unknown> };
    expect(cron.spec['schedule']).toBe('*/30 * * * *');
    expect(cron.spec['concurrencyPolicy']).toBe('Forbid');
    expect(all(rendered.azureJsonSecret, 'Job')).toEqual([]);
  });
});

describe('metrics', () => {
  it('gets a Service and a ServiceMonitor only when asked, scraping the container port', () => {
    expect(all(rendered.defaults, 'Service')).toEqual([]);
    expect(all(rendered.defaults, 'ServiceMonitor')).toEqual([]);
    const r = rendered.hostNetworkMetrics;
    const service = one(r, 'Service') as Manifest & {
      spec: { selector: Record<string, string>; ports: { name: string; targetPort: string }[] };
    };
    expect(service.spec.selector).toEqual(deployment(r).spec.selector.matchLabels);
    expect(service.spec.ports[0]?.targetPort).toBe('http-metrics');
    const monitor = one(r, 'ServiceMonitor') as Manifest & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string; path: string }[];
      };
    };
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels?.['release']).toBe('prom');
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints).toEqual([
      expect.objectContaining({ port: service.spec.ports[0]?.name, path: PATHS.metrics }),
    ]);
  });
});

describe('invalid values', () => {
  const cases: [string, object, RegExp][] = [
    ['a typo at the root', { replicas: 3 }, /Additional property replicas is not allowed/],
    [
      'a typo in a nested object',
      { azure: { identity: { clientID: CLIENT } } },
      /identity: Additional property clientID is not allowed/,
    ],
    [
      'a wrong type',
      { replicaCount: 'two' },
      /replicaCount: Invalid type\. Expected: integer, given: string/,
    ],
    ['a value outside its enum', { azure: { identity: { type: 'password' } } }, /azure\.identity\.type/],
    [
      'a relative azure.json host path',
      {
        azure: {
          identity: { type: 'azureJsonHostPath', azureJson: { hostPath: 'etc/kubernetes/azure.json' } },
        },
      },
      /azure\.identity\.azureJson\.hostPath: Does not match pattern/,
    ],
    ['a malformed duration', { controller: { resyncPeriod: '1 minute' } }, /controller\.resyncPeriod/],
    ['no clusterCIDRs (the defaults alone)', {}, /clusterCIDRs: Array must have at least 1 items/],
    ['an empty clusterCIDRs', { clusterCIDRs: [] }, /clusterCIDRs: Array must have at least 1 items/],
    [
      'a prefix length past /32',
      { clusterCIDRs: ['10.200.0.0/33'] },
      /clusterCIDRs\.0: Does not match pattern/,
    ],
    ['an octet past 255', { clusterCIDRs: ['10.256.0.0/16'] }, /clusterCIDRs\.0: Does not match pattern/],
    [
      'a prefix length past /128',
      { clusterCIDRs: ['fd00::/129'] },
      /clusterCIDRs\.0: Does not match pattern/,
    ],
    ['no prefix length', { clusterCIDRs: ['10.200.0.0'] }, /clusterCIDRs\.0: Does not match pattern/],
  ];
  it.each(cases)('are rejected by the schema: %s', async (_, values, message) => {
    const result = await helm(['template', RELEASE, CHART, '-f', valuesFile(values)]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(result.stderr).toMatch(message);
  });

  it('are rejected by the templates when they contradict each other', async () => {
    const cases: [object, RegExp][] = [
      [{ leaderElection: { enabled: false } }, /replicaCount > 1 needs leaderElection\.enabled=true/],
      [
        { azure: { identity: { type: 'servicePrincipal', clientId: CLIENT, tenantId: TENANT } } },
        /servicePrincipal\.existingSecret/,
      ],
      [
        { azure: { identity: { type: 'workloadIdentity' } } },
        /workloadIdentity needs azure\.identity\.clientId/,
      ],
      [{ azure: { identity: { type: 'azureJsonSecret' } } }, /azureJson\.existingSecret/],
    ];
    const results = await Promise.all(
      cases.map(([values]) =>
        helm(['template', RELEASE, CHART, '-f', valuesFile({ ...REQUIRED, ...values })]),
      ),
    );
    results.forEach((result, i) => {
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(cases[i]![1]);
    });
  });
});

describe('the chart documentation', () => {
  /** Every key path in values.yaml, with whether it has a `# --` comment of its own (helm-docs style). */
  function documentedKeys(): { path: string; documented: boolean }[] {
    const lines = readFileSync(join(CHART, 'values.yaml'), 'utf8').split('\n');
    const stack: { indent: number; key: string }[] = [];
    const keys: { path: string; documented: boolean }[] = [];
    let listIndent = -1;
    lines.forEach((line, i) => {
      const m = /^(\s*)([A-Za-z0-9_]+):/.exec(line);
      const indent = line.length - line.trimStart().length;
      if (listIndent >= 0 && line.trim() !== '' && !line.trimStart().startsWith('#') && indent <= listIndent)
        listIndent = -1;
      if (listIndent >= 0) return;
      if (line.trimStart().startsWith('- ')) {
        listIndent = stack.at(-1)?.indent ?? 0;
        return;
      }
      if (!m) return;
      while (stack.length > 0 && stack.at(-1)!.indent >= indent) stack.pop();
      stack.push({ indent, key: m[2]! });
      let j = i - 1;
      let documented = false;
      while (j >= 0 && lines[j]!.trimStart().startsWith('#')) {
        if (lines[j]!.trimStart().startsWith('# --')) documented = true;
        j -= 1;
      }
      keys.push({ path: stack.map((s) => s.key).join('.'), documented });
    });
    return keys;
  }

  it('documents every value in values.yaml, and lists every documented one in the chart README', () => {
    const keys = documentedKeys();
    const documented = new Set(keys.filter((k) => k.documented).map((k) => k.path));
    // A key is covered by its own comment, an ancestor's (a value documented as a whole, like `resources`), or,
    // for a plain grouping key like `azure`, by its children's.
    const undocumented = keys.filter(
      (k) =>
        ![...documented].some(
          (d) => k.path === d || k.path.startsWith(`${d}.`) || d.startsWith(`${k.path}.`),
        ),
    );
    expect(undocumented.map((k) => k.path)).toEqual([]);
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('\n## Values\n'));
    const listed = new Set([...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]));
    expect([...documented].filter((p) => !listed.has(p))).toEqual([]);
    expect([...listed].filter((p) => !documented.has(p!))).toEqual([]);
  });
});

describe('the Azure custom role', () => {
  it('holds only the actions the route-table store performs', () => {
    const role = JSON.parse(
      readFileSync(join(ROOT, 'deploy/azure/route-controller-role.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(role).toMatchObject({ IsCustom: true, NotActions: [] });
    expect(role['Actions']).toEqual([
      'Microsoft.Network/routeTables/read',
      'Microsoft.Network/routeTables/write',
      'Microsoft.Network/locations/operations/read',
    ]);
    expect(role['AssignableScopes']).toEqual(['/subscriptions/SUBSCRIPTION_ID']);

    // The store reads and writes whole tables: routeTables.get and routeTables.createOrUpdate (whose
    // long-running operation is polled at .../locations/<region>/operations/<id>), never the routes child API.
    const store = readFileSync(join(ROOT, 'src/azure/store.ts'), 'utf8');
    const calls = [...store.matchAll(/\.(routeTables|routes|subnets|virtualNetworks)\.(\w+)\(/g)].map(
      (m) => `${m[1]}.${m[2]}`,
    );
    expect([...new Set(calls)].sort()).toEqual(['routeTables.createOrUpdate', 'routeTables.get']);
  });
});
