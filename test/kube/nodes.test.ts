import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { toNodeInfo } from '../../src/kube/nodes.ts';

describe('toNodeInfo', () => {
  it('reduces a dual-stack node', () => {
    const node: V1Node = {
      metadata: { name: 'worker-0', uid: 'u-0', creationTimestamp: new Date('2024-05-06T07:08:09Z') },
      spec: { podCIDR: '10.200.0.0/24', podCIDRs: ['10.200.0.0/24', 'fd00:10:200::/64'] },
      status: {
        addresses: [
          { type: 'Hostname', address: 'worker-0' },
          { type: 'InternalIP', address: '10.240.0.20' },
          { type: 'ExternalIP', address: '20.1.2.3' },
          { type: 'InternalIP', address: 'fd00::20' },
        ],
        conditions: [
          { type: 'Ready', status: 'True', reason: 'KubeletReady' },
          { type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated' },
        ],
      },
    };
    expect(toNodeInfo(node)).toEqual({
      name: 'worker-0',
      uid: 'u-0',
      creationTimestamp: '2024-05-06T07:08:09Z',
      podCIDRs: ['10.200.0.0/24', 'fd00:10:200::/64'],
      internalIPs: ['10.240.0.20', 'fd00::20'],
      networkUnavailable: { status: 'False', reason: 'RouteCreated' },
    });
  });

  it('falls back to the legacy spec.podCIDR', () => {
    const info = toNodeInfo({ metadata: { name: 'old' }, spec: { podCIDR: '10.200.1.0/24' } });
    expect(info.podCIDRs).toEqual(['10.200.1.0/24']);
  });

  it('tolerates a node with no spec and no status', () => {
    expect(toNodeInfo({ metadata: { name: 'bare' } })).toEqual({
      name: 'bare',
      uid: '',
      creationTimestamp: '',
      podCIDRs: [],
      internalIPs: [],
      networkUnavailable: undefined,
    });
    expect(toNodeInfo({}).name).toBe('');
  });

  it('accepts the string timestamps of a watch event, and a condition without a reason', () => {
    const fromWatch = {
      metadata: { name: 'w', creationTimestamp: '2024-05-06T07:08:09Z' },
      status: { conditions: [{ type: 'NetworkUnavailable', status: 'True' }] },
    } as unknown as V1Node;
    const info = toNodeInfo(fromWatch);
    expect(info.creationTimestamp).toBe('2024-05-06T07:08:09Z');
    expect(info.networkUnavailable).toEqual({ status: 'True' });
  });
});
