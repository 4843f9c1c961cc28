import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createKubeClient, loadKubeConfig, serverForMessages } from '../../src/kube/client.ts';

const SECRET = 's3cr3t-in-the-url';

describe('a kubeconfig server URL with embedded credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arc-kubeconfig-'));
  const file = join(dir, 'kubeconfig');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: c\n  cluster:\n    server: https://admin:${SECRET}@127.0.0.1:1`,
      'users:',
      '- name: u\n  user:\n    token: t',
      'contexts:',
      '- name: x\n  context:\n    cluster: c\n    user: u',
      'current-context: x',
      '',
    ].join('\n'),
  );

  it('is shown without them', () => {
    expect(serverForMessages(loadKubeConfig(file))).toBe('https://127.0.0.1:1');
  });

  it('never reaches an error message', async () => {
    const client = createKubeClient(loadKubeConfig(file), pino({ level: 'silent' }), {
      requestTimeoutMs: 2_000,
    });
    const err = await client.list().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain('127.0.0.1:1');
    expect(err?.message).not.toContain(SECRET);
  });
});
