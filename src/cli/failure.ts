// How a failed command is reported: one line on stderr for people and, with `-o json`, one JSON object on stdout
// for scripts, whatever failed (usage, configuration, Kubernetes, Azure, the metrics listener, or a bug).
import { CommanderError } from 'commander';
import { AzureError } from '../azure/errors.ts';
import { ConfigError } from '../config/errors.ts';
import { KubeError } from '../kube/client.ts';

export const EXIT_CODES = { ok: 0, failure: 1, usage: 2 } as const;

export type FailureKind = 'usage' | 'config' | 'kubernetes' | 'azure' | 'interrupted' | 'internal';

export interface Failure {
  readonly exitCode: number;
  readonly kind: FailureKind;
  /** One line, without the `error: ` prefix. */
  readonly message: string;
  /** Whether commander already printed the message to stderr. */
  readonly printed: boolean;
  /** For a bug only: the stack, so the report can carry it. */
  readonly stack?: string | undefined;
}

/** The system errors a listening socket fails with, and what each means for --bind-address. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use; stop what listens there or pick another port',
  EADDRNOTAVAIL: 'this host has no such address; use 0.0.0.0, [::], 127.0.0.1 or one of its own addresses',
  EACCES: 'permission denied; ports below 1024 need privileges, pick a port of 1024 or more',
  ENOTFOUND: 'the host name does not resolve; use an IP address such as 0.0.0.0 or 127.0.0.1',
  EAI_AGAIN: 'the host name could not be resolved; use an IP address such as 0.0.0.0 or 127.0.0.1',
};

/** Commander's exits that are not failures. */
const COMMANDER_OK = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

export function describeFailure(err: unknown, signal?: AbortSignal): Failure {
  if (err instanceof CommanderError) {
    const exitCode = COMMANDER_OK.has(err.code) ? EXIT_CODES.ok : EXIT_CODES.usage;
    return { exitCode, kind: 'usage', message: err.message.replace(/^error: /, ''), printed: true };
  }
  if (err instanceof ConfigError) return config(err.message);
  if (err instanceof KubeError) {
    if (err.kind === 'Config') return config(err.message);
    return { exitCode: EXIT_CODES.failure, kind: 'kubernetes', message: err.message, printed: false };
  }
  if (err instanceof AzureError) {
    return { exitCode: EXIT_CODES.failure, kind: 'azure', message: err.message, printed: false };
  }
  const listen = listenFailure(err);
  if (listen !== undefined) return config(listen);
  if (signal?.aborted) {
    return {
      exitCode: EXIT_CODES.failure,
      kind: 'interrupted',
      message: 'interrupted; nothing more was written',
      printed: false,
    };
  }
  return {
    exitCode: EXIT_CODES.failure,
    kind: 'internal',
    message: `unexpected failure: ${err instanceof Error ? err.message : String(err)}`,
    printed: false,
    stack: err instanceof Error ? err.stack : undefined,
  };
}

const config = (message: string): Failure => ({
  exitCode: EXIT_CODES.usage,
  kind: 'config',
  message,
  printed: false,
});

/** A failed listen on --bind-address (a user's choice of address, not a bug), as one line naming the flag. */
function listenFailure(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const why = e.code === undefined ? undefined : LISTEN_ERRORS[e.code];
  if (why === undefined) return undefined;
  if (e.syscall === 'listen' || e.syscall === 'bind') {
    const host = e.address?.includes(':') ? `[${e.address}]` : e.address;
    return `--bind-address ${host}:${e.port ?? 0}: ${why} (${e.code})`;
  }
  if (e.syscall === 'getaddrinfo' && e.hostname !== undefined) {
    return `--bind-address: host "${e.hostname}": ${why} (${e.code})`;
  }
  return undefined;
}

/** Whether the command line asks for JSON output (`-o json`, `-ojson`, `--output json`, `--output=json`). */
export function wantsJson(argv: readonly string[]): boolean {
  return argv.some(
    (arg, i) =>
      arg === '-ojson' ||
      arg === '--output=json' ||
      ((arg === '-o' || arg === '--output') && argv[i + 1]?.toLowerCase() === 'json'),
  );
}

/** The JSON error object `-o json` prints on stdout: `{"error":{"kind","message","exitCode"}}`. */
export function failureJson(failure: Failure): string {
  return `${JSON.stringify({ error: { kind: failure.kind, message: failure.message, exitCode: failure.exitCode } })}\n`;
}
