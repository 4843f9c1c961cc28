// A long-running CLI child process (`run`), for tests that need real signals: SIGTERM, SIGKILL.
// A thin view over startCli (test/support/cli.ts), the one way the tests spawn the CLI.
import type { ChildProcess } from 'node:child_process';
import { logRecords, startCli } from './cli.ts';
import type { Sandbox } from './sandbox.ts';

export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  logs(): Record<string, unknown>[];
  /** Resolves with the exit code (null if killed by a signal) once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

export function spawnCli(args: readonly string[], env: Readonly<Record<string, string>> = {}): CliProcess {
  const cli = startCli(args, { env, killAfterMs: 120_000 });
  const { child } = cli;
  return {
    child,
    stdout: () => cli.output().stdout,
    stderr: () => cli.output().stderr,
    logs: () => logRecords(cli.output().stderr),
    exited: cli.exited.then(({ code, signal }) => ({ code, signal })),
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

export const LEASE_NAMESPACE = 'kube-system';

/** A `run` replica with leader election on short durations (lease 2 s, renew 1.5 s, retry 250 ms). */
export function startReplica(sb: Sandbox, identity: string, extra: readonly string[] = []): CliProcess {
  return spawnCli([
    'run',
    ...sb.flags(),
    '--leader-elect-namespace',
    LEASE_NAMESPACE,
    '--leader-elect-identity',
    identity,
    '--leader-elect-lease-duration',
    '2s',
    '--leader-elect-renew-deadline',
    '1500ms',
    '--leader-elect-retry-period',
    '250ms',
    '--debounce',
    '50ms',
    '--bind-address',
    '127.0.0.1:0',
    ...extra,
  ]);
}
