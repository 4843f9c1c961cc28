// What every command that talks to Azure does first, once: the root logger, the configuration's warnings, and
// the cloud's endpoints (Azure Stack Hub, and any azure.json "resourceManagerEndpoint": the token audience and
// the authority come from its metadata).
import type { Logger } from 'pino';
import { resolveCloudEndpoints } from '../../azure/clouds.ts';
import type { CommonConfig } from '../../config/types.ts';
import { createLogger } from '../logger.ts';
import type { CliIo } from '../program.ts';

export async function prepareCommand<C extends CommonConfig>(
  loaded: C,
  io: CliIo,
): Promise<{ config: C; logger: Logger }> {
  const logger = createLogger(loaded.logLevel, {
    pretty: io.stderr.isTTY === true,
    format: loaded.logFormat,
  });
  for (const warning of loaded.warnings) logger.warn(warning);
  if (loaded.ignoredKeys.length > 0) {
    logger.debug({ keys: loaded.ignoredKeys }, 'azure.json keys that do not apply to routes are ignored');
  }
  const config: C = { ...loaded, azure: await resolveCloudEndpoints(loaded.azure) };
  return { config, logger };
}
