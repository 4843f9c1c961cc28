// An in-process simulator of the Azure network API for route tables (api-version 2026-01-01), for the
// end-to-end tests, the demo and the benchmark. See DESIGN 5 and the implementation under ./azure/.
export { startAzureSimulator } from './azure/simulator.ts';
export type { AzureSimulator } from './azure/simulator.ts';
export { ARM_DEFAULT_THROTTLING } from './azure/types.ts';
export type {
  AzureSimulatorOptions,
  BeforeWriteContext,
  BeforeWriteHook,
  Fault,
  FaultControl,
  FaultHandle,
  FaultKind,
  FaultMatch,
  JsonObject,
  OperationName,
  RequestCounts,
  RequestLogEntry,
  SeedTable,
  SimpleRoute,
  ThrottlingOptions,
  TokenBucketOptions,
} from './azure/types.ts';
