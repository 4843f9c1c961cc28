// The chart's `helm test` hook for doctor: off by default; when on, one Pod running `doctor` with the same
// identity, settings and Lease as the controller, and nothing that writes.
import { describe, expect, it } from 'vitest';
import { NAMESPACE, template, type Manifest } from './helm.ts';

const SUB = '00000000-0000-0000-0000-000000000001';
const BASE = {
  clusterCIDRs: ['10.200.0.0/16'],
  azure: { subscriptionId: SUB, resourceGroup: 'kubernetes', routeTables: ['kubernetes-routes'] },
};

const doctorPods = (manifests: Manifest[]) =>
  manifests.filter((m) => m.kind === 'Pod' && m.metadata?.annotations?.['helm.sh/hook'] === 'test');

describe('chart doctorTest', () => {
  it('is off by default', async () => {
    const rendered = await template(BASE);
    expect(doctorPods(rendered.manifests)).toEqual([]);
  });

  it('when enabled, is a helm test hook Pod running doctor with the controller flags', async () => {
    const rendered = await template({ ...BASE, doctorTest: { enabled: true, output: 'json' } });
    const pods = doctorPods(rendered.manifests);
    expect(pods).toHaveLength(1);
    const pod = pods[0]! as Manifest & {
      spec: { restartPolicy: string; serviceAccountName: string; containers: { args: string[] }[] };
    };
    expect(pod.metadata?.namespace).toBe(NAMESPACE);
    expect(pod.spec.restartPolicy).toBe('Never');
    const args = pod.spec.containers[0]!.args;
    expect(args[0]).toBe('doctor');
    expect(args).toEqual(
      expect.arrayContaining([
        `--subscription-id=${SUB}`,
        '--route-table=kubernetes-routes',
        '--cluster-cidr=10.200.0.0/16',
        '--output=json',
        `--leader-elect-namespace=${NAMESPACE}`,
      ]),
    );
    expect(args.some((a) => /^--(dry-run|create-route-table)/.test(a))).toBe(false);
    // The controller's ServiceAccount, so the test proves the identity the controller runs with.
    const deployment = rendered.manifests.find((m) => m.kind === 'Deployment') as
      (Manifest & { spec: { template: { spec: { serviceAccountName: string } } } }) | undefined;
    expect(pod.spec.serviceAccountName).toBe(deployment?.spec.template.spec.serviceAccountName);
  });

  it('rejects an unknown doctorTest key', async () => {
    await expect(template({ ...BASE, doctorTest: { enabled: true, typo: 1 } })).rejects.toThrow(/doctorTest/);
  });
});
