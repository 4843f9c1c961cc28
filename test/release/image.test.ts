// The image's stages, run here without Docker: each RUN and COPY of the Dockerfile is executed in a scratch
// directory per stage (WORKDIR /app becomes <stage>/app), exactly as written, with the official image's Node
// and npm standing in for node:24. Then the runtime stage's tree is made read-only and its ENTRYPOINT is run
// as a non-root user, as the chart runs it (runAsNonRoot, readOnlyRootFilesystem).
import { execFile } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../chart/helm.ts';
import { NODE_PATH, headCommit, run, type Run } from './pack.ts';

interface Instruction {
  readonly op: string;
  readonly args: string;
}
interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: Instruction[];
}

/** The Dockerfile as stages of instructions: continuation lines joined, comments and the syntax line dropped. */
function parseDockerfile(text: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    if (current === '' && /^\s*(#|$)/.test(raw)) continue;
    if (raw.endsWith('\\')) {
      current += raw.slice(0, -1) + ' ';
      continue;
    }
    logical.push(current + raw);
    current = '';
  }
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op, args] = /^(\w+)\s+(.*)$/s.exec(line.trim())!;
    const upper = op!.toUpperCase();
    if (upper === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args!)!;
      stages.push({ name: name ?? `stage-${stages.length}`, from: from!, instructions: [] });
    } else if (stages.length === 0) {
      const [, key, value] = /^(\w+)=(.*)$/.exec(args!)!;
      globalArgs.set(key!, value!);
    } else {
      stages.at(-1)!.instructions.push({ op: upper, args: args! });
    }
  }
  return { globalArgs, stages };
}

function exec(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-ec', command], { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
  });
}

function duBytes(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, entry) => sum + duBytes(join(path, entry)), 0);
}

/**
 * Whether .dockerignore keeps `path` (relative to the context) out of the build context, as Docker reads it:
 * patterns relative to the root, `*` within one path segment, `**` across segments, a pattern matching a parent
 * directory excluding what is below it, and the last matching line (a `!` line re-includes) winning.
 */
function dockerIgnored(path: string, dockerignore: string): boolean {
  const rules = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negated = l.startsWith('!');
      const glob = (negated ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const source = glob
        .split('/')
        .map((part) =>
          part === '**'
            ? '.*'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replaceAll('*', '[^/]*')
                .replaceAll('?', '[^/]'),
        )
        .join('/');
      return { negated, re: new RegExp(`^${source}(/.*)?$`) };
    });
  let ignored = false;
  for (const rule of rules) if (rule.re.test(path)) ignored = !rule.negated;
  return ignored;
}

/** Runs every stage; returns each stage's root directory. */
async function buildStages(stages: Stage[], buildArgs: Record<string, string>): Promise<Map<string, string>> {
  const scratch = mkdtempSync(join(tmpdir(), 'arc-image-'));
  chmodSync(scratch, 0o755);
  const roots = new Map<string, string>();
  for (const stage of stages) {
    const root = join(scratch, stage.name);
    mkdirSync(root, { recursive: true });
    roots.set(stage.name, root);
    let workdir = root;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: NODE_PATH,
      HOME: join(root, 'root'),
      // The registry answers here, but the cache usually already holds every locked tarball.
      npm_config_prefer_offline: 'true',
    };
    for (const { op, args } of stage.instructions) {
      if (op === 'ARG') {
        const [, key, fallback] = /^(\w+)(?:=(.*))?$/.exec(args)!;
        env[key!] = buildArgs[key!] ?? fallback ?? '';
      } else if (op === 'ENV') {
        const [, key, value] = /^(\w+)=(.*)$/.exec(args)!;
        env[key!] = value!;
      } else if (op === 'WORKDIR') {
        workdir = join(root, args);
        mkdirSync(workdir, { recursive: true });
      } else if (op === 'COPY') {
        const parts = args.split(/\s+/);
        const from = parts[0]!.startsWith('--from=')
          ? roots.get(parts.shift()!.slice('--from='.length))
          : ROOT;
        expect(from, `COPY ${args}: the stage it copies from ran first`).toBeDefined();
        const dest = parts.pop()!;
        const target = isAbsolute(dest) ? join(root, dest) : join(workdir, dest);
        for (const source of parts) {
          if (from === ROOT) {
            const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8');
            expect(
              dockerIgnored(source.replace(/^\.\//, ''), ignore),
              `COPY ${source}: in the build context`,
            ).toBe(false);
          }
          const path = from === ROOT ? join(ROOT, source) : join(from!, source);
          const into = dest.endsWith('/') ? join(target, source.split('/').pop()!) : target;
          mkdirSync(dirname(into), { recursive: true });
          cpSync(path, into, { recursive: true });
        }
      } else if (op === 'RUN') {
        const result = await exec(args, workdir, env);
        expect(result.code, `RUN ${args}\n${result.stderr}`).toBe(0);
      } else {
        // LABEL, USER, EXPOSE, ENTRYPOINT, CMD describe the image; the test reads them from the file.
        expect(['LABEL', 'USER', 'EXPOSE', 'ENTRYPOINT', 'CMD'], `unknown instruction ${op}`).toContain(op);
      }
    }
  }
  return roots;
}

it(
  'the runtime stage, assembled from the Dockerfile without Docker, runs --version and demo as non-root from a read-only tree',
  { timeout: 300_000 },
  async () => {
    const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const { globalArgs, stages } = parseDockerfile(text);

    // Base images pinned by digest; nothing but Node in the build stages (no Node or Helm download).
    for (const name of ['NODE_IMAGE', 'RUNTIME_IMAGE']) {
      expect(globalArgs.get(name), name).toMatch(/^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
    }
    expect(text).not.toMatch(/\b(curl|wget)\b/);
    const runtime = stages.at(-1)!;
    expect(runtime.from).toBe('${RUNTIME_IMAGE}');
    const user = runtime.instructions.find((i) => i.op === 'USER')!.args;
    expect(user).toBe('65532:65532');
    const labels = runtime.instructions.find((i) => i.op === 'LABEL')!.args;
    for (const [label, arg] of [
      ['source', 'SOURCE'],
      ['revision', 'REVISION'],
      ['version', 'VERSION'],
    ]) {
      expect(labels).toContain(`org.opencontainers.image.${label}="\${${arg}}"`);
    }

    const commit = await headCommit();
    const roots = await buildStages(stages, { VERSION: '0.1.0', REVISION: commit });
    const root = roots.get(runtime.name)!;
    const app = join(root, 'app');

    // The runtime carries the one bundled file the ENTRYPOINT runs, its commit stamp and package.json: no
    // node_modules at all, so in particular no devDependency (neither Node nor Helm) and no source.
    const entry = (JSON.parse(runtime.instructions.find((i) => i.op === 'ENTRYPOINT')!.args) as string[]).at(
      -1,
    )!;
    const files = (dir: string, prefix = ''): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
      );
    expect(files(app).sort()).toEqual(
      [entry.replace(/^\/app\//, ''), 'dist/build-info.json', 'package.json'].sort(),
    );
    expect(existsSync(join(app, 'node_modules'))).toBe(false);
    const bytes = duBytes(app);
    // A fresh clone has no .test-results/ until vitest writes its report at the end of the run.
    mkdirSync(join(ROOT, '.test-results'), { recursive: true });
    writeFileSync(
      join(ROOT, '.test-results', 'image-runtime-size.json'),
      `${JSON.stringify({ bytes, megabytes: Math.round((bytes / 1e6) * 10) / 10 })}\n`,
    );

    // Read-only root: nobody may write anywhere in the tree, and the process runs as 65532 (not root).
    const entrypoint = JSON.parse(runtime.instructions.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
    expect(entrypoint[0]).toBe('/nodejs/bin/node');
    const nodeArgs = entrypoint.slice(1).map((a) => (a.startsWith('/app/') ? join(root, a) : a));
    execChmodReadOnly(root);
    const writable = mkdtempSync(join(tmpdir(), 'arc-image-tmp-'));
    chmodSync(writable, 0o777);
    const asNonRoot = (args: string[]) =>
      process.getuid?.() === 0
        ? run(
            'setpriv',
            ['--reuid=65532', '--regid=65532', '--clear-groups', process.execPath, ...nodeArgs, ...args],
            {
              cwd: app,
              env: { HOME: '/nonexistent', TMPDIR: writable, NODE_ENV: 'production' },
            },
          )
        : run(process.execPath, [...nodeArgs, ...args], {
            cwd: app,
            env: { HOME: '/nonexistent', TMPDIR: writable, NODE_ENV: 'production' },
          });

    const whoami = await (process.getuid?.() === 0
      ? run('setpriv', [
          '--reuid=65532',
          '--regid=65532',
          '--clear-groups',
          process.execPath,
          '-e',
          'process.stdout.write(String(process.getuid()))',
        ])
      : run(process.execPath, ['-e', 'process.stdout.write(String(process.getuid()))']));
    expect(Number(whoami.stdout)).not.toBe(0);

    const version = await asNonRoot(['--version']);
    expect(version.stderr).toBe('');
    expect(version.stdout).toBe(`0.1.0 (commit ${commit})\n`);
    const demo = await asNonRoot(['demo', '-o', 'json']);
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toContain('10.240.0.21');
    // Nothing was written into the tree (a read-only root would have refused it).
    const probe = await exec(
      `find ${JSON.stringify(root)} -newer ${JSON.stringify(join(app, 'package.json'))} -type f | head -1`,
      root,
      process.env,
    );
    expect(probe.stdout).toBe('');
  },
);

function execChmodReadOnly(root: string): void {
  const walk = (path: string) => {
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) walk(join(path, entry));
      chmodSync(path, 0o555);
    } else {
      chmodSync(path, stat.mode & 0o555);
    }
  };
  walk(root);
}
