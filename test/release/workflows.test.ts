// The release automation, checked without the network: the workflow files parse, every action they name is a
// real one pinned by commit SHA, and one version flows from the git tag to the image, the chart and the package.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { CHART, ROOT, chartYaml } from '../chart/helm.ts';

/**
 * The actions the workflows may use, each at the one commit its release tag points to, with the inputs its
 * action.yml declares at that tag. Looked up in each action's own repository (tag -> commit); a new pin is
 * added here after the same check, so a typo or a made-up SHA fails this test rather than the release.
 */
const ACTIONS: Record<string, { sha: string; tag: string; inputs: readonly string[] }> = {
  'actions/checkout': {
    sha: '3d3c42e5aac5ba805825da76410c181273ba90b1',
    tag: 'v7.0.1',
    inputs: ['repository', 'ref', 'token', 'persist-credentials', 'path', 'fetch-depth', 'fetch-tags'],
  },
  'actions/setup-node': {
    sha: '820762786026740c76f36085b0efc47a31fe5020',
    tag: 'v7.0.0',
    inputs: ['node-version', 'node-version-file', 'cache', 'registry-url', 'scope', 'check-latest'],
  },
  'docker/setup-qemu-action': {
    sha: '96fe6ef7f33517b61c61be40b68a1882f3264fb8',
    tag: 'v4.2.0',
    inputs: ['image', 'platforms'],
  },
  'docker/setup-buildx-action': {
    sha: '37fe631027851001ddb9b187196cc803df7f5f0e',
    tag: 'v4.3.0',
    inputs: ['version', 'driver', 'platforms'],
  },
  'docker/login-action': {
    sha: '4907a6ddec9925e35a0a9e82d7399ccc52663121',
    tag: 'v4.1.0',
    inputs: ['registry', 'username', 'password', 'logout'],
  },
  'docker/metadata-action': {
    sha: 'dc802804100637a589fabce1cb79ff13a1411302',
    tag: 'v6.2.0',
    inputs: ['images', 'tags', 'flavor', 'labels', 'annotations'],
  },
  'docker/build-push-action': {
    sha: '53b7df96c91f9c12dcc8a07bcb9ccacbed38856a',
    tag: 'v7.3.0',
    inputs: [
      'context',
      'file',
      'platforms',
      'push',
      'tags',
      'labels',
      'annotations',
      'build-args',
      'sbom',
      'provenance',
      'cache-from',
      'cache-to',
    ],
  },
  'sigstore/cosign-installer': {
    sha: '6f9f17788090df1f26f669e9d70d6ae9567deba6',
    tag: 'v4.1.2',
    inputs: ['cosign-release', 'install-dir'],
  },
  'actions/attest-build-provenance': {
    sha: 'a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32',
    tag: 'v4.1.0',
    inputs: ['subject-path', 'subject-digest', 'subject-name', 'push-to-registry'],
  },
  'Azure/setup-helm': {
    sha: '9bc31f4ebc9c6b171d7bfbaa5d006ae7abdb4310',
    tag: 'v5.0.1',
    inputs: ['version'],
  },
};

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  steps: Step[];
  permissions?: Record<string, string>;
  strategy?: { matrix?: Record<string, unknown[]> };
  outputs?: Record<string, string>;
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const WORKFLOWS = ['ci.yml', 'release.yml'] as const;
const text = (file: string) => readFileSync(join(ROOT, '.github', 'workflows', file), 'utf8');
function load(file: string): Workflow {
  const doc = parseDocument(text(file));
  expect(
    doc.errors.map((e) => e.message),
    `${file} parses`,
  ).toEqual([]);
  return doc.toJS() as Workflow;
}
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);
const runs = (w: Workflow) =>
  steps(w)
    .map((s) => s.run ?? '')
    .join('\n');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  engines: { node: string };
};

describe('workflows', () => {
  it.each(WORKFLOWS)(
    '%s names only allowed actions, each pinned to the commit of the tag its comment names',
    (file) => {
      const workflow = load(file);
      const used = steps(workflow).filter((s) => s.uses !== undefined);
      expect(used.length).toBeGreaterThan(0);
      for (const step of used) {
        const match = /^([\w.-]+\/[\w.-]+)@([0-9a-f]{40})$/.exec(step.uses!);
        expect(match, `${step.uses} is owner/repo@<40-hex commit>`).not.toBeNull();
        const [, action, sha] = match!;
        const known = ACTIONS[action!];
        expect(known, `${action} is on the allow-list`).toBeDefined();
        expect(sha, `${action} pinned to ${known!.tag}`).toBe(known!.sha);
        for (const input of Object.keys(step.with ?? {})) {
          expect(known!.inputs, `${action} ${known!.tag} declares the input ${input}`).toContain(input);
        }
      }
      // The comment beside each pin names the tag, so a reader (and Dependabot) sees which release it is.
      const pins = text(file).match(/uses: \S+/g) ?? [];
      expect(pins.length).toBe(used.length);
      for (const line of text(file)
        .split('\n')
        .filter((l) => /\buses: /.test(l))) {
        const [, action] = /uses: ([\w.-]+\/[\w.-]+)@/.exec(line)!;
        expect(line, 'tag comment').toMatch(new RegExp(`# ${ACTIONS[action!]!.tag.replaceAll('.', '\\.')}$`));
      }
    },
  );

  it('ci runs npm ci, npm test on Node 22 and 24 (the engines range) and helm lint, on every push and pull request', () => {
    const ci = load('ci.yml');
    expect(Object.keys(ci.on).sort()).toEqual(['pull_request', 'push']);
    const matrix = ci.jobs['test']!.strategy!.matrix!['node']!.map(String);
    expect(matrix.map((v) => v.split('.')[0])).toEqual(['22', '24']);
    // The oldest tested version is the engines floor.
    const floor = /^>=(\d+\.\d+)/.exec(pkg.engines.node)![1];
    expect(matrix[0]).toBe(floor);
    const setupNode = ci.jobs['test']!.steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
    expect(setupNode?.with?.['node-version']).toBe('${{ matrix.node }}');
    const commands = runs(ci);
    expect(commands).toMatch(/^npm ci\b/m);
    expect(commands).toMatch(/^npm test$/m);
    expect(commands).toMatch(/helm lint --strict charts\/azure-route-controller/);
  });

  it('release builds a signed multi-arch image with SBOM and provenance, the chart as an OCI artifact, and the npm package', () => {
    const release = load('release.yml');
    expect(release.on).toEqual({ push: { tags: ['v*'] } });
    const image = release.jobs['image']!;
    const build = image.steps.find((s) => s.uses?.startsWith('docker/build-push-action@'))!;
    expect(String(build.with!['platforms']).split(',').sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(build.with!['push']).toBe(true);
    expect(build.with!['sbom']).toBe(true);
    expect(String(build.with!['provenance'])).toMatch(/^mode=max$/);
    // The Dockerfile's label arguments are the ones the workflow passes.
    const buildArgs = String(build.with!['build-args']);
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    for (const arg of ['VERSION', 'REVISION', 'SOURCE']) {
      expect(buildArgs).toMatch(new RegExp(`^${arg}=`, 'm'));
      expect(dockerfile).toMatch(new RegExp(`^ARG ${arg}\\b`, 'm'));
    }
    expect(image.permissions).toMatchObject({ 'id-token': 'write', packages: 'write' });
    expect(runs(release)).toMatch(/cosign sign --yes "\$\{IMAGE\}@\$\{DIGEST\}"/);
    expect(image.steps.some((s) => s.uses?.startsWith('actions/attest-build-provenance@'))).toBe(true);
    // The image the release pushes is the one the chart pulls by default.
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as {
      image: { repository: string };
    };
    expect(release.env!['IMAGE']).toBe(values.image.repository);
    expect(release.env!['CHART_REPOSITORY']).toMatch(/^oci:\/\/ghcr\.io\//);
    expect(runs(release)).toMatch(
      /helm push "out\/azure-route-controller-\$\{VERSION\}\.tgz" "\$CHART_REPOSITORY"/,
    );
    expect(runs(release)).toMatch(/^npm publish --provenance --access public$/m);
    // Nothing is published before the tests passed on the tagged commit.
    for (const job of ['image', 'chart', 'npm']) expect(release.jobs[job]!.needs).toContain('test');
  });

  it('image tag, chart version, appVersion and package version all come from the one checked version', () => {
    const release = load('release.yml');
    const fromVersionJob = '${{ needs.version.outputs.version }}';
    const meta = release.jobs['image']!.steps.find((s) => s.uses?.startsWith('docker/metadata-action@'))!;
    expect(String(meta.with!['tags'])).toContain(`type=raw,value=${fromVersionJob}`);
    const build = release.jobs['image']!.steps.find((s) => s.uses?.startsWith('docker/build-push-action@'))!;
    expect(String(build.with!['build-args'])).toContain(`VERSION=${fromVersionJob}`);
    const chartStep = release.jobs['chart']!.steps.find((s) => s.run?.includes('helm package'))!;
    expect(chartStep.env!['VERSION']).toBe(fromVersionJob);
    expect(chartStep.run).toContain('--version "$VERSION" --app-version "$VERSION"');
    for (const job of ['image', 'chart', 'npm']) expect(release.jobs[job]!.needs).toContain('version');
    // And the repository is releasable as it stands: one version everywhere.
    const chart = chartYaml();
    expect(chart.version).toBe(pkg.version);
    expect(chart.appVersion).toBe(pkg.version);
  });
});

describe("the release's version check (the script of the workflow's version job, run here)", () => {
  const script = load('release.yml').jobs['version']!.steps.find((s) => s.id === 'version')!.run!;

  function runCheck(cwd: string, tag: string): Promise<{ code: number; output: string; stdout: string }> {
    const outputFile = join(mkdtempSync(join(tmpdir(), 'gh-output-')), 'output');
    writeFileSync(outputFile, '');
    return new Promise((resolve) => {
      execFile(
        'bash',
        ['-c', script],
        { cwd, env: { ...process.env, GITHUB_REF_NAME: tag, GITHUB_OUTPUT: outputFile } },
        (err, stdout) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, output: readFileSync(outputFile, 'utf8'), stdout });
        },
      );
    });
  }

  it('passes the tag of the current version and outputs that version', async () => {
    const result = await runCheck(ROOT, `v${pkg.version}`);
    expect(result.code).toBe(0);
    expect(result.output).toBe(`version=${pkg.version}\n`);
  });

  it('refuses a tag that differs from package.json and the chart, naming each file', async () => {
    const result = await runCheck(ROOT, 'v99.0.0');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`package.json version is ${pkg.version}`);
    expect(result.stdout).toContain('Chart.yaml appVersion is');
    expect(result.output).toBe('');
  });

  it('refuses a chart whose appVersion lags package.json', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'release-check-'));
    cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'));
    mkdirSync(join(copy, 'charts', 'azure-route-controller'), { recursive: true });
    const chart = readFileSync(join(CHART, 'Chart.yaml'), 'utf8').replace(
      /^appVersion:.*$/m,
      "appVersion: '0.0.9'",
    );
    writeFileSync(join(copy, 'charts', 'azure-route-controller', 'Chart.yaml'), chart);
    const result = await runCheck(copy, `v${pkg.version}`);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Chart.yaml appVersion is 0.0.9');
    expect(result.stdout).not.toContain('package.json version is');
  });
});
