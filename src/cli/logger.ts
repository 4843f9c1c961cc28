import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Paths whose values never reach a log line, whatever the level. */
export const REDACT_PATHS = [
  'clientSecret',
  'aadClientSecret',
  'certificatePassword',
  'aadClientCertPassword',
  'token',
  'accessToken',
  'authorization',
  'Authorization',
  '*.clientSecret',
  '*.aadClientSecret',
  '*.certificatePassword',
  '*.aadClientCertPassword',
  '*.token',
  '*.accessToken',
  '*.authorization',
  '*.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
];

/**
 * The root logger. Logs go to stderr so stdout carries only the plan and results; JSON by default,
 * human-friendly when stderr is a terminal.
 */
export function createLogger(
  level: string,
  options: { pretty: boolean; destination?: DestinationStream },
): Logger {
  const base = {
    level,
    name: 'azure-route-controller',
    base: undefined,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty) {
    return pino(base, pretty({ destination: 2, colorize: true, ignore: 'pid,hostname,name', sync: true }));
  }
  return pino(base, pino.destination({ dest: 2, sync: true }));
}
