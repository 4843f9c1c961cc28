// The command line: flags, help, and the mapping from failures to exit codes.
import { Command, Option } from 'commander';
import { CLOUDS, LOG_FORMATS, LOG_LEVELS, type Environment, type SyncFlags } from '../config/load.ts';
import { parseBooleanFlag, type DoctorFlags, type RunFlags } from '../config/run.ts';
import { buildInfo, versionLine } from '../support/build-info.ts';
import { describeFailure, failureJson, wantsJson } from './failure.ts';

export const EXIT = { ok: 0, failure: 1, usage: 2, pending: 3 } as const;

export interface CliIo {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean | undefined };
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean | undefined };
  readonly environment: Environment;
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal?: AbortSignal | undefined;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

const EXIT_CODES_HELP = `
Exit codes:
  0  in sync, or changes applied (nodes that simply have no pod CIDR yet do not count)
  1  a runtime failure, an unresolved conflict, a route over the table's limit, or a refused node
     (invalid pod CIDR, outside --cluster-cidr, no InternalIP of its family, duplicate pod CIDR)
  2  bad usage or configuration
  3  --dry-run found pending changes`;

/** The flags every command that talks to Azure and Kubernetes shares (DESIGN 4). */
export function addCommonOptions(cmd: Command): Command {
  return cmd
    .option('--cloud-config <file>', 'azure.json in the cloud-provider-azure format; flags override its keys')
    .option('--subscription-id <id>', 'subscription of the route tables (azure.json "subscriptionId")')
    .option(
      '--resource-group <name>',
      'resource group of the route tables (default: azure.json "routeTableResourceGroup", then "resourceGroup")',
    )
    .option(
      '--route-table <name>',
      'route table to manage; repeatable, every table gets every route; NAME, RG/NAME or a full resource ID (default: azure.json "routeTableName")',
      collect,
    )
    .option(
      '--cluster-cidr <cidrs>',
      "REQUIRED: the cluster's pod range(s) (kube-controller-manager --cluster-cidr, kubeadm networking.podSubnet), comma-separated or repeated; routes inside them are ours, every other route is left alone",
      collect,
    )
    .addOption(
      new Option(
        '--cloud <name>',
        'Azure cloud (default: azure.json "cloud", else AzurePublicCloud)',
      ).choices(CLOUDS),
    )
    .option(
      '--location <region>',
      'region for a table that --create-route-table creates (azure.json "location")',
    )
    .option(
      '--arm-endpoint <url>',
      "Resource Manager endpoint, overriding the cloud's (Azure Stack Hub, tests); the token scope follows it",
    )
    .option(
      '--allow-insecure-arm-endpoint',
      'TEST ONLY: allow an http:// loopback --arm-endpoint (the simulator); a placeholder token is sent, never a real one',
    )
    .option(
      '--kubeconfig <file>',
      'kubeconfig file (default: $KUBECONFIG, then the in-cluster configuration, then ~/.kube/config)',
    )
    .option('--context <name>', "kubeconfig context to use instead of the file's current-context")
    .option('--no-node-conditions', "do not patch the nodes' NetworkUnavailable condition")
    .addOption(
      new Option('--log-level <level>', 'log level; logs go to stderr').choices(LOG_LEVELS).default('info'),
    )
    .addOption(
      new Option(
        '--log-format <format>',
        'json: pino JSON lines; text: one line per entry with the level name and an ISO time (default: text on a terminal, else json)',
      ).choices(LOG_FORMATS),
    )
    .option('--route-limit <n>', 'most routes one table may hold (Azure: 400)', '400')
    .option(
      '--node-cidr-mask-size-ipv4 <n>',
      "refuse IPv4 pod CIDRs broader than this prefix length (kube-controller-manager's flag of the same name)",
      '24',
    )
    .option(
      '--node-cidr-mask-size-ipv6 <n>',
      "refuse IPv6 pod CIDRs broader than this prefix length (kube-controller-manager's flag of the same name)",
      '64',
    )
    .option(
      '--allow-empty-node-list',
      'let an empty node list delete our routes (by default it deletes nothing)',
    )
    .option('--max-write-attempts <n>', 'read-plan-write attempts per table after 412 or throttling', '5')
    .option('--operation-timeout <duration>', 'bound on one Azure write, until it reports Succeeded', '5m')
    .option('--poll-interval <duration>', 'poll interval of a long-running Azure operation', '2s');
}

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('azure-route-controller')
    .description(
      'Keeps Azure route tables in step with Kubernetes node pod CIDRs: one route per node pod CIDR, next hop the node InternalIP.',
    )
    .version(versionLine(), '--version', 'print the version and the commit it was built from')
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  addSyncRoutesCommand(program, io, setExit);
  addRunCommand(program, io, setExit);
  addDoctorCommand(program, io, setExit);
  addDemoCommand(program, io, setExit);
  addVersionCommand(program, io, setExit);
  return program;
}

function addSyncRoutesCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const sync = addCommonOptions(
    program
      .command('sync-routes')
      .description(
        'Reconcile once and exit: list nodes, read each route table, print the plan, write each changed table once (If-Match), wait for Succeeded, patch node conditions.',
      ),
  )
    .option(
      '--dry-run [bool]',
      'print the plan and write nothing: no Azure write, no condition patch, no event; --dry-run=false to write',
      parseBooleanFlag('--dry-run'),
      false,
    )
    .addOption(new Option('-o, --output <format>', 'stdout format').choices(['text', 'json']).default('text'))
    .option('--create-route-table', 'create a missing route table in --location')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (flags: SyncFlags) => {
      // Each command is loaded on use: in the bundle, a command's modules are evaluated only when it runs (ADR 8).
      const { syncRoutesCommand } = await import('./commands/sync.ts');
      setExit(await syncRoutesCommand(flags, io));
    });
  sync.exitOverride();
}

function addRunCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  addCommonOptions(
    program
      .command('run')
      .description(
        'The controller: watch Nodes and keep every route table in step, within about a second of a change. Exits 0 after SIGTERM.',
      ),
  )
    .option(
      '--leader-elect [bool]',
      'elect a leader through a coordination.k8s.io Lease, so only one replica writes; --leader-elect=false for a single replica',
      parseBooleanFlag('--leader-elect'),
      true,
    )
    .option('--leader-elect-lease-name <name>', 'name of the Lease', 'azure-route-controller')
    .option(
      '--leader-elect-namespace <ns>',
      "namespace of the Lease (default: $POD_NAMESPACE, then the pod's own namespace, then kube-system)",
    )
    .option(
      '--leader-elect-identity <id>',
      'this replica in the Lease (default: $POD_NAME, else hostname and a random suffix)',
    )
    .option(
      '--leader-elect-lease-duration <duration>',
      'how long a standby waits before taking over a Lease that was not renewed',
      '15s',
    )
    .option(
      '--leader-elect-renew-deadline <duration>',
      'the leader stops writing if it cannot renew within this',
      '10s',
    )
    .option('--leader-elect-retry-period <duration>', 'interval between Lease acquire/renew attempts', '2s')
    .option('--bind-address <host:port>', 'address of /healthz, /readyz and /metrics', '0.0.0.0:8080')
    .option(
      '--debounce <duration>',
      'quiet time after a node change before reconciling; a burst becomes one reconcile',
      '250ms',
    )
    .option('--max-delay <duration>', 'longest a node change waits, however many follow it', '2s')
    .option('--resync-period <duration>', 'period of the drift-repair resync: one read per table', '1m')
    .option(
      '--backoff-base <duration>',
      'first retry delay after a failed reconcile (doubles, with jitter)',
      '1s',
    )
    .option('--backoff-max <duration>', 'longest retry delay after failed reconciles', '5m')
    .option(
      '--shutdown-grace-period <duration>',
      'on SIGTERM, how long a write in flight may take to finish',
      '20s',
    )
    .action(async (flags: RunFlags) => {
      // Loaded on use: sync-routes need not load the informer, the Lease or the server.
      const { runCommand } = await import('./commands/run.ts');
      setExit(await runCommand(flags, io));
    })
    .exitOverride();
}

function addDoctorCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  addCommonOptions(
    program
      .command('doctor')
      .description(
        'Preflight: check the identity, its permissions, the tables, subnet association, IP forwarding, other route writers, the nodes and the plan. Writes nothing.',
      ),
  )
    .addOption(new Option('-o, --output <format>', 'stdout format').choices(['text', 'json']).default('text'))
    .option(
      '--leader-elect-lease-name <name>',
      "name of this controller's Lease, as run takes it",
      'azure-route-controller',
    )
    .option(
      '--leader-elect-namespace <ns>',
      "namespace of this controller's Lease (default: $POD_NAMESPACE, then the pod's own namespace, then kube-system)",
    )
    .addHelpText(
      'after',
      '\nExit codes:\n  0  every check ok or warn\n  1  a check failed\n  2  bad usage or configuration',
    )
    .action(async (flags: DoctorFlags) => {
      const { doctorCommand } = await import('./commands/doctor.ts');
      setExit(await doctorCommand(flags, io));
    })
    .exitOverride();
}

function addDemoCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('demo')
    .description(
      'Run sync-routes against the built-in Azure simulator and a fake three-worker cluster (Kubernetes the Hard Way); needs no Azure account',
    )
    .addOption(new Option('-o, --output <format>', 'stdout format').choices(['text', 'json']).default('text'))
    .addOption(
      new Option('--log-level <level>', 'log level; logs go to stderr').choices(LOG_LEVELS).default('warn'),
    )
    .action(async (flags: { output: string; logLevel: string }) => {
      // The simulators are loaded only for the demo.
      const { demoCommand } = await import('./commands/demo.ts');
      setExit(await demoCommand(flags, io));
    })
    .exitOverride();
}

function addVersionCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('version')
    .description('Print the version and the commit it was built from')
    .addOption(new Option('-o, --output <format>', 'stdout format').choices(['text', 'json']).default('text'))
    .action((flags: { output: string }) => {
      const info = buildInfo();
      io.stdout.write(
        flags.output === 'json'
          ? `${JSON.stringify({ version: info.version, commit: info.commit, node: process.versions.node })}\n`
          : `${versionLine(info)}\n`,
      );
      setExit(EXIT.ok);
    })
    .exitOverride();
}

/** Runs the CLI and resolves with the exit code. Never throws for a user's mistake. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c));
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return EXIT.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    return reportFailure(err, argv, io);
  }
}

function reportFailure(err: unknown, argv: readonly string[], io: CliIo): number {
  const failure = describeFailure(err, io.signal);
  if (failure.exitCode === EXIT.ok) return EXIT.ok;
  if (wantsJson(argv)) io.stdout.write(failureJson(failure));
  if (failure.printed) return failure.exitCode;
  io.stderr.write(`error: ${failure.message}\n`);
  if (failure.kind === 'internal') {
    io.stderr.write('(this is a bug; please report it with the output of --log-level debug)\n');
    if (failure.stack) io.stderr.write(`${failure.stack}\n`);
  }
  return failure.exitCode;
}
