// Runs the checks over what was read and renders the report for people (text) or programs (JSON).
import type { DoctorConfig } from '../config/run.ts';
import {
  identityCheck,
  ipForwardingCheck,
  nodesCheck,
  otherWritersCheck,
  permissionsCheck,
  planCheck,
  subnetsCheck,
  tableCheck,
} from './checks.ts';
import { judge } from './plan.ts';
import { DOCTOR_SCHEMA_VERSION, type CheckResult, type DoctorReport, type World } from './types.ts';

export function diagnose(world: World, config: DoctorConfig): DoctorReport {
  const judgement = judge(world, config);
  const checks: CheckResult[] = [
    identityCheck(world),
    permissionsCheck(world, config),
    tableCheck(world, judgement, config),
    subnetsCheck(world, config),
    ipForwardingCheck(world, config),
    otherWritersCheck(world, judgement, config),
    nodesCheck(world, judgement, config),
    planCheck(world, judgement),
  ];
  const failed = checks.some((c) => c.status === 'fail');
  const warned = checks.some((c) => c.status === 'warn');
  return {
    schemaVersion: DOCTOR_SCHEMA_VERSION,
    result: failed ? 'fail' : warned ? 'warn' : 'ok',
    exitCode: failed ? 1 : 0,
    checks,
  };
}

export function renderDoctorJson(report: DoctorReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

export function renderDoctorText(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.id.length));
  const out: string[] = [];
  for (const check of report.checks) {
    out.push(`${check.status.padEnd(4)}  ${check.id.padEnd(width)}  ${check.summary}`);
    // The summary already quotes the first problem; JSON keeps it in details too, text does not repeat it.
    const quoted = check.details.find((d) => check.summary.includes(`: ${d}`));
    for (const detail of check.details) {
      if (detail !== quoted) out.push(`${' '.repeat(width + 8)}${detail}`);
    }
    for (const fix of check.fixes) out.push(`${' '.repeat(width + 8)}fix: ${fix}`);
  }
  const count = (s: string) => report.checks.filter((c) => c.status === s).length;
  out.push(
    '',
    `Result: ${count('fail')} fail, ${count('warn')} warn, ${count('ok')} ok (exit ${report.exitCode}). doctor wrote nothing.`,
  );
  return `${out.join('\n')}\n`;
}
