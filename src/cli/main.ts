#!/usr/bin/env node
// The executable. Everything testable lives in program.ts; this file only binds it to the process.
import { processEnvironment } from '../config/load.ts';
import { runCli } from './program.ts';

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
