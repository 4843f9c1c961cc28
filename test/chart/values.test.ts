// The chart with every documented value set at once, and the values that must fail the render because the
// controller would crash-loop on them. test/chart/chart.test.ts holds the variants and the CLI cross-checks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  CHART,
  NAMESPACE,
  RELEASE,
  helm,
  template,
  valuesFile,
  type Manifest,
  type Rendered,
} from './helm.ts';

const SUB = '3f2c9a61-5b8e-4d0a-9c47-8e1d2b6a7f30';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '6d3c1f0e-8b2a-4c5d-9e7f-1a2b3c4d5e6f';
const TABLE_ID = `/subscriptions/${SUB}/resourceGroups/net-rg/providers/Microsoft.Network/routeTables/spoke-routes`;
const OTHER_NS = 'networking';

const resources = { requests: { cpu: '30m', memory: '200Mi' }, limits: { cpu: '1', memory: '640Mi' } };

/** Every key of values.yaml, each set (most to a value other than its default). */
const EVERYTHING = {
  nameOverride: 'arc',
  fullnameOverride: 'route-controller',
  namespaceOverride: OTHER_NS,
  commonLabels: { team: 'network' },
  replicaCount: 3,
  deploymentAnnotations: { 'reloader.stakater.com/auto': 'true' },
  revisionHistoryLimit: 3,
  strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
  image: {
    repository: 'registry.example.com/arc',
    tag: '9.9.9',
    digest: `sha256:${'a'.repeat(64)}`,
    pullPolicy: 'Always',
  },
  imagePullSecrets: [{ name: 'registry' }],
  serviceAccount: { create: true, name: 'arc-sa', annotations: { owner: 'network' } },
  rbac: { create: true },
  azure: {
    cloud: 'AzureUSGovernment',
    subscriptionId: SUB,
    resourceGroup: 'kubernetes',
    routeTables: ['kubernetes-routes', 'other-rg/extra-routes', TABLE_ID],
    location: 'usgovvirginia',
    armEndpoint: 'https://management.usgovcloudapi.net',
    identity: {
      type: 'workloadIdentity',
      clientId: CLIENT,
      tenantId: TENANT,
      workloadIdentity: { webhook: false, tokenExpirationSeconds: 7200 },
      servicePrincipal: { existingSecret: 'unused-sp', clientSecretKey: 'secret' },
      azureJson: { existingSecret: 'unused-json', key: 'cloud.json', hostPath: '/etc/unused/azure.json' },
    },
  },
  clusterCIDRs: ['10.200.0.0/16', 'fd00:10:200::/56'],
  controller: {
    logLevel: 'debug',
    logFormat: 'text',
    nodeConditions: true,
    resyncPeriod: '2m',
    debounce: '500ms',
    maxDelay: '3s',
    routeLimit: 350,
    allowEmptyNodeList: true,
    maxWriteAttempts: 7,
    operationTimeout: '4m',
    pollInterval: '3s',
    backoffBase: '2s',
    backoffMax: '4m',
    shutdownGracePeriod: '25s',
    nodeCIDRMaskSizeIPv4: 26,
    nodeCIDRMaskSizeIPv6: 80,
    extraArgs: ['--max-delay=4s'],
  },
  leaderElection: {
    enabled: true,
    leaseName: 'routes',
    leaseDuration: '20s',
    renewDeadline: '12s',
    retryPeriod: '3s',
  },
  metrics: {
    bindHost: '0.0.0.0',
    port: 9090,
    service: {
      enabled: true,
      type: 'ClusterIP',
      port: 9091,
      annotations: { 'prometheus.io/scrape': 'true' },
    },
    serviceMonitor: {
      enabled: true,
      namespace: 'monitoring',
      labels: { release: 'prom' },
      interval: '15s',
      scrapeTimeout: '5s',
      relabelings: [{ action: 'replace', targetLabel: 'cluster', replacement: 'east' }],
      metricRelabelings: [{ action: 'drop', regex: 'nodejs_.*', sourceLabels: ['__name__'] }],
    },
    podMonitor: {
      enabled: true,
      namespace: 'monitoring',
      labels: { release: 'prom' },
      interval: '20s',
      scrapeTimeout: '6s',
      relabelings: [{ action: 'replace', targetLabel: 'cluster', replacement: 'east' }],
      metricRelabelings: [{ action: 'drop', regex: 'process_.*', sourceLabels: ['__name__'] }],
    },
  },
  prometheusRule: {
    enabled: true,
    namespace: 'monitoring',
    labels: { release: 'prom' },
    noSuccessfulSyncMinutes: 30,
    severity: { critical: 'page', warning: 'ticket' },
    disabledAlerts: ['AzureRouteControllerAzureThrottled'],
    additionalRules: [
      { record: 'arc:reconciles:rate5m', expr: 'rate(azure_route_controller_reconciles_total[5m])' },
    ],
  },
  grafanaDashboard: {
    enabled: true,
    namespace: 'grafana',
    labels: { grafana_dashboard: '1', team: 'network' },
    annotations: { grafana_folder: 'Networking' },
  },
  networkPolicy: {
    enabled: true,
    metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
    egress: [
      {
        ports: [
          { port: 443, protocol: 'TCP' },
          { port: 6443, protocol: 'TCP' },
        ],
      },
    ],
  },
  hostNetwork: { enabled: false, port: 10299, dnsPolicy: 'Default' },
  dnsPolicy: 'Default',
  priorityClassName: 'system-node-critical',
  podDisruptionBudget: { enabled: true, minAvailable: 2, maxUnavailable: 1 },
  resources,
  podSecurityContext: {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    fsGroup: 65532,
    seccompProfile: { type: 'RuntimeDefault' },
  },
  securityContext: {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  },
  livenessProbe: { initialDelaySeconds: 5, periodSeconds: 20, timeoutSeconds: 3, failureThreshold: 5 },
  readinessProbe: { periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 2 },
  terminationGracePeriodSeconds: 40,
  tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'network', effect: 'NoSchedule' }],
  nodeSelector: { 'kubernetes.io/os': 'linux', pool: 'system' },
  affinity: {
    nodeAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 1,
          preference: {
            matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }],
          },
        },
      ],
    },
  },
  topologySpreadConstraints: [
    { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' },
  ],
  podAnnotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' },
  podLabels: { 'network.example.com/tier': 'routes' },
  extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=400' }],
  extraVolumes: [{ name: 'certs', secret: { secretName: 'client-cert' } }],
  extraVolumeMounts: [{ name: 'certs', mountPath: '/etc/certs', readOnly: true }],
  extraObjects: [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'extra-{{ .Release.Name }}' },
      data: { a: 'b' },
    },
    'apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include "azure-route-controller.fullname" . }}-extra\nstringData:\n  note: rendered with tpl\n',
  ],
  syncJob: {
    enabled: true,
    mode: 'cronjob',
    schedule: '*/15 * * * *',
    dryRun: true,
    createRouteTable: true,
    output: 'json',
    backoffLimit: 2,
    activeDeadlineSeconds: 200,
    ttlSecondsAfterFinished: 3600,
    concurrencyPolicy: 'Replace',
    successfulJobsHistoryLimit: 2,
    failedJobsHistoryLimit: 4,
    resources,
  },
  doctorTest: { enabled: true, output: 'json', deletePolicy: 'hook-succeeded', resources },
};

/** The key paths of a values tree: every leaf, where a non-empty map is a branch. */
function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
    return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
  }
  return [prefix];
}
function has(tree: unknown, path: readonly string[]): boolean {
  let node = tree;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !(key in node)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}

const byKind = (r: Rendered, kind: string) => r.manifests.filter((m) => m.kind === kind);
const one = (r: Rendered, kind: string, name?: string): Manifest => {
  const found = byKind(r, kind).filter((m) => name === undefined || m.metadata.name === name);
  expect(found, `one ${kind}${name ? ` ${name}` : ''}`).toHaveLength(1);
  return found[0]!;
};
interface PodSpec {
  containers: {
    args: string[];
    env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  }[];
}
const deploymentOf = (r: Rendered) =>
  one(r, 'Deployment') as Manifest & {
    spec: {
      revisionHistoryLimit: number;
      strategy: unknown;
      template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    };
  };

describe('every documented value set at once', () => {
  let rendered: Rendered;
  beforeAll(async () => {
    rendered = await template(EVERYTHING);
  });

  it('sets every key values.yaml has (so a new value joins this render)', () => {
    const defaults = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as object;
    const missing = leafPaths(defaults).filter((path) => !has(EVERYTHING, path));
    expect(missing.map((p) => p.join('.'))).toEqual([]);
  });

  it('renders, lints clean with --strict, and puts every namespaced object into namespaceOverride', async () => {
    const lint = await helm([
      'lint',
      CHART,
      '--strict',
      '--namespace',
      NAMESPACE,
      '-f',
      valuesFile(EVERYTHING),
    ]);
    expect(lint.stdout + lint.stderr).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding']);
    for (const m of rendered.manifests) {
      if (clusterScoped.has(m.kind)) continue;
      // The monitors and rules live where Prometheus looks, the dashboard where Grafana's sidecar looks (their own
      // namespace values); everything else in the override.
      const expected = ['ServiceMonitor', 'PodMonitor', 'PrometheusRule'].includes(m.kind)
        ? 'monitoring'
        : m.metadata.name.endsWith('-dashboard')
          ? 'grafana'
          : OTHER_NS;
      // extraObjects are the user's own objects: rendered as given (here without a namespace).
      if (m.metadata.name.endsWith('-extra') || m.metadata.name.startsWith('extra-')) continue;
      expect(m.metadata.namespace, `${m.kind} ${m.metadata.name}`).toBe(expected);
    }
    const binding = one(rendered, 'ClusterRoleBinding') as Manifest & { subjects: { namespace: string }[] };
    expect(binding.subjects[0]!.namespace).toBe(OTHER_NS);
  });

  it('applies the Deployment values: annotations, revisionHistoryLimit, strategy, podLabels', () => {
    const d = deploymentOf(rendered);
    expect(d.metadata.annotations).toEqual({ 'reloader.stakater.com/auto': 'true' });
    expect(d.spec.revisionHistoryLimit).toBe(3);
    expect(d.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
    expect(d.spec.template.metadata.labels).toMatchObject({
      'network.example.com/tier': 'routes',
      team: 'network',
    });
  });

  it('passes --log-format to the controller and the sync job', () => {
    expect(deploymentOf(rendered).spec.template.spec.containers[0]!.args).toContain('--log-format=text');
    const cron = one(rendered, 'CronJob') as Manifest & {
      spec: { jobTemplate: { spec: { template: { spec: PodSpec } } } };
    };
    expect(cron.spec.jobTemplate.spec.template.spec.containers[0]!.args).toContain('--log-format=text');
  });

  it('renders the NetworkPolicy: ingress to the metrics port from metricsFrom only, egress as given', () => {
    const np = one(rendered, 'NetworkPolicy');
    expect(np['spec']).toEqual({
      podSelector: {
        matchLabels: {
          'app.kubernetes.io/name': 'arc',
          'app.kubernetes.io/instance': RELEASE,
          'app.kubernetes.io/component': 'controller',
        },
      },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        { ports: [{ port: 'http-metrics', protocol: 'TCP' }], from: EVERYTHING.networkPolicy.metricsFrom },
      ],
      egress: EVERYTHING.networkPolicy.egress,
    });
  });

  it('renders the PodMonitor beside the ServiceMonitor, selecting the controller pods on their metrics port', () => {
    const pm = one(rendered, 'PodMonitor');
    expect(pm.metadata.labels).toMatchObject({ release: 'prom' });
    expect(pm['spec']).toMatchObject({
      namespaceSelector: { matchNames: [OTHER_NS] },
      selector: {
        matchLabels: { 'app.kubernetes.io/component': 'controller', 'app.kubernetes.io/instance': RELEASE },
      },
      podMetricsEndpoints: [
        {
          port: 'http-metrics',
          path: '/metrics',
          interval: '20s',
          scrapeTimeout: '6s',
          relabelings: EVERYTHING.metrics.podMonitor.relabelings,
          metricRelabelings: EVERYTHING.metrics.podMonitor.metricRelabelings,
        },
      ],
    });
    one(rendered, 'ServiceMonitor');
  });

  it('renders extraObjects, objects and tpl strings alike', () => {
    const cm = one(rendered, 'ConfigMap', `extra-${RELEASE}`) as Manifest & { data: Record<string, string> };
    expect(cm.data).toEqual({ a: 'b' });
    const secret = one(rendered, 'Secret', 'route-controller-extra') as Manifest & { stringData: object };
    expect(secret.stringData).toEqual({ note: 'rendered with tpl' });
  });
});

describe('Chart.yaml', () => {
  it('names its home, sources and icon', () => {
    const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
    expect(chart['home']).toMatch(/^https:\/\//);
    expect(chart['sources']).toEqual(expect.arrayContaining([chart['home']]));
    expect(chart['icon']).toMatch(/^https:\/\/.+\.svg$/);
    // The icon the URL points at is the one in the repository.
    expect(String(chart['icon'])).toMatch(/\/charts\/azure-route-controller\/icon\.svg$/);
    expect(readFileSync(join(CHART, 'icon.svg'), 'utf8')).toContain('<svg');
  });
});

describe('metrics binding on the host network', () => {
  it('binds to the pod IP (the node InternalIP), not every address of the node, unless bindHost says otherwise', async () => {
    const base = {
      clusterCIDRs: ['10.200.0.0/16'],
      azure: { subscriptionId: SUB, resourceGroup: 'kubernetes', routeTables: ['kubernetes-routes'] },
    };
    const [hostNet, podNet, explicit, ipv6] = await Promise.all([
      template({ ...base, hostNetwork: { enabled: true } }),
      template(base),
      template({ ...base, hostNetwork: { enabled: true }, metrics: { bindHost: '127.0.0.1' } }),
      template({
        ...base,
        clusterCIDRs: ['fd00:10:200::/56', '10.200.0.0/16'],
        hostNetwork: { enabled: true },
      }),
    ]);
    const container = (r: Rendered) => deploymentOf(r).spec.template.spec.containers[0]!;
    expect(container(hostNet).args).toContain('--bind-address=$(POD_IP):10270');
    expect(container(hostNet).env).toContainEqual({
      name: 'POD_IP',
      valueFrom: { fieldRef: { fieldPath: 'status.podIP' } },
    });
    expect(container(podNet).args).toContain('--bind-address=0.0.0.0:8080');
    expect(container(explicit).args).toContain('--bind-address=127.0.0.1:10270');
    // IPv6 first: the pod IP is an IPv6 address, which --bind-address takes in brackets.
    expect(container(ipv6).args).toContain('--bind-address=[$(POD_IP)]:10270');
  });
});

describe('values the controller would crash-loop on fail the render, with one clear message', () => {
  const base = {
    clusterCIDRs: ['10.200.0.0/16'],
    azure: { subscriptionId: SUB, resourceGroup: 'kubernetes', routeTables: ['kubernetes-routes'] },
  };
  const cases: [string, object, RegExp][] = [
    [
      'an empty azure.routeTables',
      { azure: { subscriptionId: SUB, resourceGroup: 'kubernetes', routeTables: [] } },
      /azure\.routeTables is empty: list the route table\(s\) to manage/,
    ],
    [
      'a table reference with three parts',
      { azure: { ...base.azure, routeTables: ['a/b/c'] } },
      /azure\.routeTables: "a\/b\/c" is not a route table reference; use NAME, RG\/NAME or \/subscriptions\//,
    ],
    [
      'a table name Azure would refuse',
      { azure: { ...base.azure, routeTables: ['-routes'] } },
      /azure\.routeTables: "-routes" is not a route table reference/,
    ],
    [
      'a resource ID of something other than a route table',
      {
        azure: {
          ...base.azure,
          routeTables: [
            `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet`,
          ],
        },
      },
      /is not a route table reference/,
    ],
    [
      'a NAME without azure.resourceGroup',
      { azure: { subscriptionId: SUB, routeTables: ['kubernetes-routes'] } },
      /azure\.routeTables: "kubernetes-routes" has no resource group; set azure\.resourceGroup or write it as RG\/kubernetes-routes/,
    ],
    [
      'no azure.subscriptionId for a NAME',
      { azure: { resourceGroup: 'kubernetes', routeTables: ['kubernetes-routes'] } },
      /azure\.routeTables: "kubernetes-routes" needs azure\.subscriptionId/,
    ],
    [
      'shutdownGracePeriod equal to terminationGracePeriodSeconds',
      { controller: { shutdownGracePeriod: '30s' }, terminationGracePeriodSeconds: 30 },
      /controller\.shutdownGracePeriod \(30s\) must be shorter than terminationGracePeriodSeconds \(30 s\)/,
    ],
    [
      'shutdownGracePeriod in minutes, longer than the termination grace period',
      { controller: { shutdownGracePeriod: '1m' }, terminationGracePeriodSeconds: 45 },
      /controller\.shutdownGracePeriod \(1m\) must be shorter than terminationGracePeriodSeconds \(45 s\)/,
    ],
    [
      'a NetworkPolicy for host-network pods',
      { networkPolicy: { enabled: true }, hostNetwork: { enabled: true } },
      /networkPolicy\.enabled has no effect with hostNetwork\.enabled/,
    ],
  ];
  it.each(cases)('%s', async (_, values, message) => {
    const result = await helm(['template', RELEASE, CHART, '-f', valuesFile({ ...base, ...values })]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    // One message (helm adds only its --debug hint), not a template trace.
    expect(result.stderr.match(/Error:/g)).toHaveLength(1);
    expect(result.stderr).not.toMatch(/goroutine|panic|at <\./);
  });

  const schemaCases: [string, object, RegExp][] = [
    [
      'a malformed cluster CIDR',
      { clusterCIDRs: ['10.200.0.0/33'] },
      /clusterCIDRs\.0: Does not match pattern/,
    ],
    [
      'a malformed duration',
      { controller: { shutdownGracePeriod: '20' } },
      /shutdownGracePeriod: Does not match pattern/,
    ],
    ['an unknown log format', { controller: { logFormat: 'xml' } }, /logFormat must be one of/],
  ];
  it.each(schemaCases)('%s (the schema)', async (_, values, message) => {
    const result = await helm(['template', RELEASE, CHART, '-f', valuesFile({ ...base, ...values })]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(result.stderr).toMatch(message);
  });

  it('accepts what the controller accepts: a grace period just below, sub-second units, resource IDs, azure.json tables', async () => {
    const results = await Promise.all(
      [
        { controller: { shutdownGracePeriod: '29s' }, terminationGracePeriodSeconds: 30 },
        { controller: { shutdownGracePeriod: '1500ms' }, terminationGracePeriodSeconds: 2 },
        { controller: { shutdownGracePeriod: '0.5m' }, terminationGracePeriodSeconds: 31 },
        // A full resource ID carries its own subscription and resource group.
        { azure: { routeTables: [TABLE_ID] } },
        // With an azure.json, routeTableName, resourceGroup and subscriptionId may come from it.
        {
          azure: {
            routeTables: [],
            identity: { type: 'azureJsonSecret', azureJson: { existingSecret: 'azure-cloud-provider' } },
          },
        },
      ].map((values) => helm(['template', RELEASE, CHART, '-f', valuesFile({ ...base, ...values })])),
    );
    for (const result of results) expect(result.code, result.stderr).toBe(0);
  });
});
