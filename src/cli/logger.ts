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
 * The root logger. Logs go to stderr so stdout carries only the plan and results.
 * - `json`: pino's JSON lines, for log pipelines (numeric levels and epoch-millisecond times, pino's format).
 * - `text`: one line per entry with the level name and an ISO 8601 UTC time, for people; coloured on a terminal.
 * Without a format: text when stderr is a terminal, else JSON.
 */
export function createLogger(
  level: string,
  options: { pretty: boolean; format?: 'json' | 'text' | undefined; destination?: DestinationStream },
): Logger {
  const base = {
    level,
    name: 'azure-route-controller',
    base: undefined,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  const format = options.format ?? (options.pretty ? 'text' : 'json');
  if (format === 'text') {
    const text = pretty({
      destination: options.destination ?? 2,
      colorize: options.pretty,
      // ISO 8601 in UTC, as Kubernetes' own components print it, so lines from several pods sort together.
      translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
      ignore: 'pid,hostname,name',
      sync: true,
    });
    return pino(base, text);
  }
  if (options.destination) return pino(base, options.destination);
  return pino(base, pino.destination({ dest: 2, sync: true }));
}
