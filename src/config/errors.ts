/**
 * A mistake in flags or configuration files. The CLI prints the message (one line that names the input
 * and the fix) and exits 2, without a stack trace.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
