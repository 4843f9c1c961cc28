// The CLI habits of issue 11, through the real executable: -o, --dry-run=false, --log-format, a busy or
// unusable --bind-address, and -o json printing a JSON error object on every failure.
import { createServer, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/cli/logger.ts';
import { worker, startSandbox, type Sandbox } from '../support/sandbox.ts';
import { describeRun, expectExit, messageLines, runCli, stackFrames } from '../support/cli.ts';

let sb: Sandbox;
beforeAll(async () => {
  sb = await startSandbox({ nodes: [worker(0)] });
});
afterAll(async () => {
  await sb.close();
});

interface JsonError {
  error: { kind: string; message: string; exitCode: number };
}

describe('--log-format', () => {
  function capture(format: 'json' | 'text'): {
    lines: () => string[];
    logger: ReturnType<typeof createLogger>;
  } {
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        chunks.push(String(chunk));
        done();
      },
    });
    const logger = createLogger('info', { pretty: false, format, destination: destination as never });
    return {
      lines: () =>
        chunks
          .join('')
          .split('\n')
          .filter((l) => l !== ''),
      logger,
    };
  }

  it('text: one line per entry with the level name and an ISO 8601 UTC time', () => {
    const { lines, logger } = capture('text');
    logger.warn({ table: 'kubernetes/kubernetes-routes' }, 'table has no subnet');
    const [first] = lines();
    expect(first).toMatch(/^\[\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\] WARN: table has no subnet$/);
    expect(lines().join('\n')).toContain('kubernetes/kubernetes-routes');
  });

  it('json: pino JSON lines', () => {
    const { lines, logger } = capture('json');
    logger.info('hello');
    expect(JSON.parse(lines()[0]!)).toMatchObject({
      level: 30,
      msg: 'hello',
      name: 'azure-route-controller',
    });
  });

  it('is a flag of sync-routes; text logs on a non-terminal stderr when asked', async () => {
    const result = await sb.syncRoutes(['--log-format', 'text', '--log-level', 'info', '--dry-run']);
    expect(result.code, describeRun(result)).toBe(3);
    const logLines = result.stderr.split('\n').filter((l) => /^\[/.test(l));
    expect(logLines.length, describeRun(result)).toBeGreaterThan(0);
    for (const line of logLines)
      expect(line).toMatch(/^\[\d{4}-\d{2}-\d{2}T[\d:.]+Z\] (INFO|WARN|DEBUG|ERROR):/);
  });

  it('refuses an unknown format, naming the choices', async () => {
    const result = await sb.syncRoutes(['--log-format', 'xml']);
    expectExit(result, 2);
    expect(result.stderr).toMatch(
      /--log-format <format>' argument 'xml' is invalid\. Allowed choices are json, text/,
    );
  });
});

describe('-o and --dry-run=false', () => {
  it('-o json is --output json', async () => {
    const result = await sb.syncRoutes(['-o', 'json', '--dry-run']);
    expectExit(result, 3);
    expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: true, exitCode: 3 });
  });

  it('--dry-run=false writes, as --leader-elect=false does not elect', async () => {
    const result = await sb.syncRoutes(['-o', 'json', '--dry-run=false']);
    expectExit(result, 0);
    expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: false });
    expect(sb.azureWrites().length).toBeGreaterThan(0);
  });

  it('--dry-run=maybe is one clear usage error', async () => {
    const result = await sb.syncRoutes(['--dry-run=maybe']);
    expectExit(result, 2);
    expect(messageLines(result.stderr)).toEqual([
      'error: --dry-run: "maybe" is not valid; use true or false (e.g. --dry-run=false)',
    ]);
  });
});

describe('--bind-address that cannot be used', () => {
  let busy: Server;
  let port: number;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => busy.close(() => resolve()));
  });

  const run = (bind: string, extra: string[] = []) =>
    runCli(['run', ...sb.flags(), '--leader-elect=false', '--bind-address', bind, ...extra]);

  it('a busy port is one line naming the flag and the address, exit 2, no stack trace', async () => {
    const result = await run(`127.0.0.1:${port}`);
    expectExit(result, 2);
    expect(messageLines(result.stderr)).toEqual([
      `error: --bind-address 127.0.0.1:${port}: the address is already in use; stop what listens there or pick another port (EADDRINUSE)`,
    ]);
    expect(stackFrames(result.stderr)).toEqual([]);
    expect(result.stderr).not.toContain('this is a bug');
  });

  it('an address this host does not have is one line, exit 2', async () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a host.
    const result = await run('192.0.2.1:0');
    expectExit(result, 2);
    expect(messageLines(result.stderr)).toEqual([
      'error: --bind-address 192.0.2.1:0: this host has no such address; use 0.0.0.0, [::], 127.0.0.1 or one of its own addresses (EADDRNOTAVAIL)',
    ]);
  });

  it('with -o json, the same failure is also a JSON error object on stdout', async () => {
    const result = await run(`127.0.0.1:${port}`, ['-o', 'json']);
    // `run` has no --output; the unknown option is itself the failure, reported as JSON too.
    expectExit(result, 2);
    const parsed = JSON.parse(result.stdout) as JsonError;
    expect(parsed.error).toMatchObject({ kind: 'usage', exitCode: 2 });
    expect(parsed.error.message).toMatch(/unknown option '-o'/);
  });
});

describe('-o json prints a JSON error object on every failure', () => {
  const cases: [string, () => string[], number, string, RegExp][] = [
    [
      'bad usage',
      () => ['sync-routes', '-o', 'json', '--no-such-flag'],
      2,
      'usage',
      /unknown option '--no-such-flag'/,
    ],
    [
      'a configuration error',
      () => [
        'sync-routes',
        ...sb.connectionFlags(),
        '--route-table',
        'a/b/c',
        '--cluster-cidr',
        '10.200.0.0/16',
        '-o',
        'json',
      ],
      2,
      'config',
      /--route-table: "a\/b\/c" is not valid; use NAME, RG\/NAME or a full resource ID/,
    ],
    [
      'a Kubernetes error',
      () => [
        'sync-routes',
        ...sb.flags().map((f) => (f === sb.kubeconfig ? `${sb.dir}/missing-kubeconfig` : f)),
        '--output=json',
      ],
      2,
      'config',
      /kubeconfig/i,
    ],
  ];
  it.each(cases)('%s', async (_, args, code, kind, message) => {
    const result = await runCli(args());
    expectExit(result, code);
    const out = JSON.parse(result.stdout) as JsonError;
    expect(out.error.kind).toBe(kind);
    expect(out.error.exitCode).toBe(code);
    expect(out.error.message).toMatch(message);
    // People still get the one line on stderr.
    expect(messageLines(result.stderr)[0]).toBe(`error: ${out.error.message}`);
    expect(stackFrames(result.stderr)).toEqual([]);
  });

  it('an Azure failure inside a sync is the JSON report itself, with the table and its status', async () => {
    const result = await runCli(['sync-routes', ...sb.flags({ routeTables: ['no-such-table'] }), '-ojson']);
    expectExit(result, 1);
    const report = JSON.parse(result.stdout) as { result: string; exitCode: number; tables: object[] };
    expect(report).toMatchObject({ result: 'Failed', exitCode: 1 });
    expect(report.tables).toEqual([expect.objectContaining({ name: 'no-such-table', status: 'NotFound' })]);
  });
});
