#!/usr/bin/env node
// The executable. Everything testable lives in program.ts; this file only binds it to the process.
//
// No static imports: they are evaluated before any line here runs, and on an old Node the SDKs fail inside
// undici with a TypeError that names nothing the user can act on. So the version check comes first, and the
// program is loaded only after it.

/** package.json "engines": the oldest Node.js whose fetch and undici the Kubernetes client works with. */
const REQUIRED_NODE = [22, 19] as const;

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < REQUIRED_NODE[0] || (major === REQUIRED_NODE[0] && minor < REQUIRED_NODE[1])) {
  process.stderr.write(
    `error: azure-route-controller needs Node.js ${REQUIRED_NODE.join('.')} or newer; this is Node.js ${process.versions.node} (${process.execPath}). Install Node.js 22 LTS or 24 LTS, or run the container image.\n`,
  );
  process.exit(2);
}

const { processEnvironment } = await import('../config/load.ts');
const { runCli } = await import('./program.ts');

// A reader that stops early (`... --help | head`) closes the pipe: stop there, quietly, as Unix tools do, instead
// of an unhandled EPIPE and its stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => controller.abort(new Error(`received ${signal}`)));
}

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  environment: processEnvironment(),
  signal: controller.signal,
});
process.exitCode = code;
