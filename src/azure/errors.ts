// One error type for everything Azure can do to us, each kind with one message that names the input and
// the fix. Messages are built from Azure's error code and text, our own context and the non-secret parts
// of the credential spec: never from request headers, and never from a secret.
import { isRestError, type HttpHeaders, type RestError } from '@azure/core-rest-pipeline';
import type { CredentialSpec } from '../config/types.ts';
import type { TableRef } from './types.ts';

export type AzureErrorKind =
  | 'PreconditionFailed'
  | 'Throttled'
  | 'RetryableConflict'
  | 'NotFound'
  | 'SubscriptionNotFound'
  | 'ResourceGroupNotFound'
  | 'Forbidden'
  | 'Unauthorized'
  | 'Credential'
  | 'Timeout'
  | 'Network'
  | 'ServerError'
  | 'OperationFailed'
  /** The table still reads Updating (someone's write is running) after the bounded waits. */
  | 'NotSettled'
  | 'BadRequest'
  /** The caller's AbortSignal fired (shutdown). Not a failure of Azure's. */
  | 'Aborted'
  | 'Other';

/** Whether sending the same request again, later, may succeed. */
const RETRYABLE: Readonly<Record<AzureErrorKind, boolean>> = {
  PreconditionFailed: true,
  Throttled: true,
  RetryableConflict: true,
  NotFound: false,
  SubscriptionNotFound: false,
  ResourceGroupNotFound: false,
  Forbidden: false,
  Unauthorized: false,
  Credential: false,
  Timeout: true,
  Network: true,
  ServerError: true,
  OperationFailed: false,
  NotSettled: true,
  BadRequest: false,
  Aborted: false,
  Other: false,
};

export interface AzureErrorInit {
  readonly kind: AzureErrorKind;
  readonly message: string;
  readonly status?: number | undefined;
  readonly code?: string | undefined;
  readonly retryAfterMs?: number | undefined;
  /** Defaults by kind. */
  readonly retryable?: boolean | undefined;
  /** The Azure operation, e.g. RouteTables_CreateOrUpdate. */
  readonly operation?: string | undefined;
  /** x-ms-request-id (or correlation id), for Azure support. */
  readonly requestId?: string | undefined;
  /**
   * Azure's own error text (code first, then message and details), redacted. Kept apart from `message` so a
   * refused route can be reported with exactly what Azure said.
   */
  readonly azureMessage?: string | undefined;
  /** Only for errors that are neither HTTP nor credential errors (they carry no request). */
  readonly cause?: unknown;
}

export class AzureError extends Error {
  override readonly name = 'AzureError';
  readonly kind: AzureErrorKind;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly retryable: boolean;
  readonly operation: string | undefined;
  readonly requestId: string | undefined;
  readonly azureMessage: string | undefined;

  constructor(init: AzureErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.status = init.status;
    this.code = init.code;
    this.retryAfterMs = init.retryAfterMs;
    this.retryable = init.retryable ?? RETRYABLE[init.kind];
    this.operation = init.operation;
    this.requestId = init.requestId;
    this.azureMessage = init.azureMessage;
  }

  /** The same error with a different message (e.g. with the number of attempts appended). */
  withMessage(message: string): AzureError {
    return new AzureError({
      kind: this.kind,
      message,
      status: this.status,
      code: this.code,
      retryAfterMs: this.retryAfterMs,
      retryable: this.retryable,
      operation: this.operation,
      requestId: this.requestId,
      azureMessage: this.azureMessage,
      cause: this.cause,
    });
  }
}

export interface AzureErrorContext {
  /** RouteTables_Get, RouteTables_CreateOrUpdate or Operations_Get. */
  readonly operation: string;
  readonly table: TableRef;
  /** The identity in use; only its non-secret fields appear in messages. */
  readonly credential?: CredentialSpec | undefined;
  readonly authorityHost?: string | undefined;
  /** Azure's JSON error body, when the SDK did not keep it on the error (it drops it for LRO requests). */
  readonly body?: unknown;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers shared by the mapping and by the store.

export function describeTable(t: TableRef): string {
  return `route table "${t.name}" in resource group "${t.resourceGroup}" (subscription ${t.subscriptionId})`;
}

function describeOperation(operation: string): string {
  switch (operation) {
    case 'RouteTables_Get':
      return 'the read of';
    case 'RouteTables_CreateOrUpdate':
      return 'the write of';
    case 'Operations_Get':
      return 'polling the write of';
    default:
      return `${operation} on`;
  }
}

export function tableNotFoundError(table: TableRef, extra: Partial<AzureErrorInit> = {}): AzureError {
  return new AzureError({
    status: 404,
    code: 'ResourceNotFound',
    ...extra,
    kind: 'NotFound',
    message:
      `route table "${table.name}" not found in resource group "${table.resourceGroup}" ` +
      `(subscription ${table.subscriptionId}): check --route-table/--resource-group, ` +
      'or pass --create-route-table with --location',
  });
}

export function timeoutError(operation: string, table: TableRef, timeoutMs: number): AzureError {
  const seconds = Math.round(timeoutMs / 100) / 10;
  const isWrite = operation === 'RouteTables_CreateOrUpdate' || operation === 'Operations_Get';
  return new AzureError({
    kind: 'Timeout',
    operation,
    message:
      `${describeOperation(operation)} ${describeTable(table)} did not finish within ${seconds}s ` +
      '(--operation-timeout)' +
      (isWrite
        ? '; the write may still complete in Azure: the next reconcile re-reads the table and plans again'
        : '; check the network path to Azure Resource Manager, or raise --operation-timeout'),
  });
}

export function abortedError(operation: string, table: TableRef): AzureError {
  return new AzureError({
    kind: 'Aborted',
    operation,
    message:
      `${describeOperation(operation)} ${describeTable(table)} was cancelled (shutting down)` +
      (operation === 'RouteTables_Get' ? '' : '; a write already sent may still complete in Azure'),
  });
}

export function operationFailedError(
  table: TableRef,
  outcome: {
    readonly state: 'Failed' | 'Canceled';
    readonly code?: string | undefined;
    readonly message?: string | undefined;
  },
): AzureError {
  const azure = redact([outcome.code, outcome.message?.trim()].filter(Boolean).join(': '));
  return new AzureError({
    kind: 'OperationFailed',
    code: outcome.code,
    azureMessage: azure || undefined,
    operation: 'RouteTables_CreateOrUpdate',
    message:
      `the write of ${describeTable(table)} ended ${outcome.state} in Azure${azure ? ` (${azure})` : ''}; ` +
      'it is not counted as applied, and the next reconcile re-reads the table and tries again',
  });
}

/**
 * A table read in a state that is not final (Updating, or any state other than Succeeded, Failed, Canceled)
 * after every bounded wait: its routes may be someone else's write in flight, so it is never planned as settled.
 */
export function notSettledError(table: TableRef, state: string, reads: number, waitedMs: number): AzureError {
  const seconds = Math.round(waitedMs / 100) / 10;
  return new AzureError({
    kind: 'NotSettled',
    operation: 'RouteTables_Get',
    message:
      `${describeTable(table)} is still ${state || 'in an unknown provisioning state'} after ${reads} reads ` +
      `over ${seconds}s (another write is in progress, or one whose writer died); ` +
      'it is not planned until it settles, and the next sync retries',
  });
}

/** One route of ours that Azure refused (a 400 naming it), set aside so the rest of the table is written. */
export function routeRefusedMessage(
  table: TableRef,
  route: { readonly name: string; readonly addressPrefix: string },
  azure: string,
): string {
  return (
    `Azure refused the route "${route.name}" for ${route.addressPrefix} in ${describeTable(table)} (${azure}); ` +
    'it was left out and the rest of the table was written: fix the node (its pod CIDR or InternalIP) ' +
    'or the table, and the next sync tries it again'
  );
}

/** Strips anything that looks like a token or secret from text that came from outside. */
export function redact(text: string): string {
  const cleaned = text
    .replace(/Bearer\s+[A-Za-z0-9\-._~+/]+=*/gi, 'Bearer [redacted]')
    .replace(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, '[redacted token]')
    .replace(
      /\b(client_secret|client_assertion|assertion|password|access_token|refresh_token|sig)=([^&\s"']+)/gi,
      '$1=[redacted]',
    );
  return cleaned.length > 600 ? `${cleaned.slice(0, 600)}...` : cleaned;
}

interface ArmErrorBody {
  readonly code?: string | undefined;
  readonly message?: string | undefined;
  readonly details: readonly { readonly code?: string | undefined; readonly message?: string | undefined }[];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Reads ARM's `{"error":{"code","message","details"}}` (or its inner object, or the SDK's CloudError). */
export function parseArmError(body: unknown): ArmErrorBody | undefined {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const outer = value as Record<string, unknown>;
  const inner = (
    typeof outer['error'] === 'object' && outer['error'] !== null ? outer['error'] : outer
  ) as Record<string, unknown>;
  const code = str(inner['code']);
  const message = str(inner['message']);
  if (code === undefined && message === undefined) return undefined;
  const rawDetails = Array.isArray(inner['details']) ? (inner['details'] as unknown[]) : [];
  const details = rawDetails
    .filter((d): d is Record<string, unknown> => typeof d === 'object' && d !== null)
    .map((d) => ({ code: str(d['code']), message: str(d['message']) }));
  return { code, message, details };
}

interface HeaderBag {
  get(name: string): string | undefined;
}

/** Retry-After in its three spellings (ms, ms, seconds or an HTTP date). */
export function retryAfterFromHeaders(
  headers: HeaderBag | undefined,
  now: () => number = Date.now,
): number | undefined {
  if (!headers) return undefined;
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const v = Number(headers.get(name));
    if (headers.get(name) !== undefined && Number.isFinite(v) && v >= 0) return v;
  }
  const raw = headers.get('retry-after');
  if (raw === undefined || raw.trim() === '') return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - now()) : undefined;
}

/** The wait Azure names in its text ("can be retried in 11 seconds", "try again after '17' seconds"). */
export function retryAfterFromText(text: string | undefined): number | undefined {
  const m = text ? /retried in (\d+) seconds?|try again after '?(\d+)'? seconds?/i.exec(text) : null;
  const seconds = m ? Number(m[1] ?? m[2]) : NaN;
  return Number.isFinite(seconds) ? seconds * 1000 : undefined;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'REQUEST_SEND_ERROR',
]);

const IDENTITY_ERROR_NAMES = new Set([
  'CredentialUnavailableError',
  'AuthenticationError',
  'AggregateAuthenticationError',
  'AuthenticationRequiredError',
]);

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  return str((err as { code?: unknown }).code);
}

export function isAbortError(err: unknown): boolean {
  return errorName(err) === 'AbortError';
}

// ---------------------------------------------------------------------------------------------------------
// Credentials.

/** Names the identity using only non-secret fields. */
export function describeCredential(spec: CredentialSpec | undefined): string {
  switch (spec?.kind) {
    case 'clientSecret':
      return `the client secret of application "${spec.clientId}" in tenant "${spec.tenantId}"`;
    case 'clientCertificate':
      return `the certificate "${spec.certificatePath}" of application "${spec.clientId}" in tenant "${spec.tenantId}"`;
    case 'managedIdentity':
      return spec.clientId
        ? `the user-assigned managed identity "${spec.clientId}"`
        : 'the system-assigned managed identity';
    case 'workloadIdentity':
      return (
        `workload identity (application "${spec.clientId ?? '$AZURE_CLIENT_ID'}", ` +
        `token file "${spec.tokenFilePath ?? '$AZURE_FEDERATED_TOKEN_FILE'}")`
      );
    case 'default':
      return spec.managedIdentityClientId
        ? `DefaultAzureCredential (managed identity "${spec.managedIdentityClientId}")`
        : 'DefaultAzureCredential';
    case 'insecureTest':
      return 'the placeholder test credential';
    default:
      return 'the Azure credential';
  }
}

function credentialFix(spec: CredentialSpec | undefined): string {
  switch (spec?.kind) {
    case 'clientSecret':
      return (
        'check azure.json "tenantId", "aadClientId" and "aadClientSecret" (use the secret\'s value, not its ID, ' +
        "and check that it has not expired), and that --cloud matches the tenant's cloud"
      );
    case 'clientCertificate':
      return (
        'check azure.json "aadClientCertPath" (a PEM file holding the private key and the certificate), ' +
        '"aadClientCertPassword", "aadClientId" and "tenantId", and that the certificate is registered on the application'
      );
    case 'managedIdentity':
      return (
        'check that the identity is assigned to this VM or scale set, that azure.json "userAssignedIdentityID" ' +
        'is its client ID (unset for the system-assigned identity), and that the instance metadata endpoint ' +
        '169.254.169.254 is reachable'
      );
    case 'workloadIdentity':
      return (
        'check azure.json "aadClientId", "tenantId" and "aadFederatedTokenFile" (or AZURE_CLIENT_ID, AZURE_TENANT_ID, ' +
        "AZURE_FEDERATED_TOKEN_FILE), the service account's azure.workload.identity/client-id annotation, and the " +
        'federated credential on the application (issuer and subject system:serviceaccount:<namespace>:<name>)'
      );
    case 'default':
      return (
        'set AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, or give ' +
        'this VM a managed identity, or name the identity in azure.json (--cloud-config)'
      );
    case 'insecureTest':
      return 'the test credential is only for a plain-HTTP loopback --arm-endpoint';
    default:
      return 'check the identity settings in azure.json (--cloud-config)';
  }
}

/** The useful part of an identity error: the AADSTS code and sentence, or the first lines of the message. */
function credentialReason(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'errorResponse' in err) {
    const resp = (err as { errorResponse?: { error?: unknown; errorDescription?: unknown } }).errorResponse;
    const description = str(resp?.errorDescription)
      ?.split('Trace ID:')[0]
      ?.replace(/\s+/g, ' ')
      .trim()
      .slice(0, 300);
    const parts = [str(resp?.error), description].filter(Boolean);
    if (parts.length > 0) return parts.join(': ');
  }
  const message = err instanceof Error ? err.message : String(err);
  const aadsts = /AADSTS\d+:[^\r\n]*?(?:\.(?=\s)|$)/m.exec(message);
  if (aadsts) return aadsts[0];
  return message.split(/\r?\n/).filter(Boolean).slice(0, 3).join(' ');
}

function scrubSecrets(text: string, spec: CredentialSpec | undefined): string {
  let out = text;
  const secrets: string[] = [];
  if (spec?.kind === 'clientSecret') secrets.push(spec.clientSecret);
  if (spec?.kind === 'clientCertificate' && spec.certificatePassword) secrets.push(spec.certificatePassword);
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return redact(out);
}

export function credentialError(
  err: unknown,
  spec: CredentialSpec | undefined,
  authorityHost?: string,
): AzureError {
  if (err instanceof AzureError) return err;
  const from = authorityHost ? ` from ${authorityHost}` : '';
  const reason = scrubSecrets(credentialReason(err), spec).replace(/[.\s]+$/, '');
  return new AzureError({
    kind: 'Credential',
    code: errorName(err),
    message: `could not get an Azure access token with ${describeCredential(spec)}${from} (${reason}): ${credentialFix(spec)}`,
  });
}

export function isIdentityError(err: unknown): boolean {
  const name = errorName(err);
  return name !== undefined && IDENTITY_ERROR_NAMES.has(name);
}

// ---------------------------------------------------------------------------------------------------------
// The mapping.

const LRO_FAILED = /^The long-running operation has failed(?:\. ([^.\s]+)\. ([\s\S]*))?/;

export function toAzureError(err: unknown, context: AzureErrorContext): AzureError {
  if (err instanceof AzureError) return err;
  if (isIdentityError(err)) return credentialError(err, context.credential, context.authorityHost);
  if (isAbortError(err)) return abortedError(context.operation, context.table);
  if (isRestError(err)) return fromRestError(err, context);

  const message = err instanceof Error ? err.message : String(err);
  const lro = LRO_FAILED.exec(message);
  if (lro) return operationFailedError(context.table, { state: 'Failed', code: lro[1], message: lro[2] });

  const code = errorCode(err);
  if (code !== undefined && NETWORK_CODES.has(code)) {
    return networkError(context, code, message, undefined);
  }
  return new AzureError({
    kind: 'Other',
    code,
    operation: context.operation,
    message: `${describeOperation(context.operation)} ${describeTable(context.table)} failed: ${redact(message)}`,
    cause: err,
  });
}

function networkError(
  context: AzureErrorContext,
  code: string | undefined,
  message: string,
  url: string | undefined,
): AzureError {
  let endpoint = 'Azure Resource Manager';
  if (url) {
    try {
      endpoint = `Azure Resource Manager at ${new URL(url).origin}`;
    } catch {
      // keep the generic name
    }
  }
  return new AzureError({
    kind: 'Network',
    code,
    operation: context.operation,
    message:
      `could not reach ${endpoint} for ${describeOperation(context.operation)} ${describeTable(context.table)} ` +
      `(${[code, redact(message)].filter(Boolean).join(': ')}): check DNS, the proxy (HTTPS_PROXY) and firewall ` +
      'access to that endpoint, and --cloud/--arm-endpoint',
  });
}

function fromRestError(err: RestError, context: AzureErrorContext): AzureError {
  const request = err.request;
  const operation = request
    ? (operationOf(request.method, request.url) ?? context.operation)
    : context.operation;
  const status = err.statusCode;
  if (status === undefined) return unansweredError(err, context, operation);
  const facts = restErrorFacts(err, context, operation, status);
  return (
    contentionError(facts) ??
    accessError(facts) ??
    (status === 404 ? notFoundError(facts) : undefined) ??
    refusalError(facts)
  );
}

/** What Azure's answer says, worked into the pieces every message of fromRestError is built from. */
interface RestErrorFacts {
  readonly table: TableRef;
  readonly operation: string;
  readonly status: number;
  readonly code: string | undefined;
  readonly headers: HttpHeaders | undefined;
  readonly detailCodes: readonly string[];
  readonly allText: string;
  /** The fields every AzureError of an answered request carries. */
  readonly base: Pick<
    AzureErrorInit,
    'status' | 'code' | 'operation' | 'requestId' | 'retryAfterMs' | 'azureMessage'
  >;
  /** "the read of route table ..." */
  readonly what: string;
  readonly azureSays: string;
  /** "<status> <code>" */
  readonly tag: string;
  readonly wait: string;
}

/** No response came back: a network failure, or an answer that was not JSON. */
function unansweredError(err: RestError, context: AzureErrorContext, operation: string): AzureError {
  if (err.code === 'PARSE_ERROR') {
    return new AzureError({
      kind: 'Other',
      code: err.code,
      operation,
      message: `${describeOperation(operation)} ${describeTable(context.table)} returned a response that is not valid JSON: ${redact(err.message)}`,
    });
  }
  return networkError(context, err.code, err.message, err.request?.url);
}

function restErrorFacts(
  err: RestError,
  context: AzureErrorContext,
  operation: string,
  status: number,
): RestErrorFacts {
  const { table } = context;
  const headers = err.response?.headers;
  const requestId = headers?.get('x-ms-request-id') ?? headers?.get('x-ms-correlation-request-id');
  const body = parseArmError(context.body) ?? parseArmError((err as { details?: unknown }).details);
  const code = body?.code ?? err.code;
  const azureMessage = body?.message ?? err.message;
  const detailCodes = body?.details.map((d) => d.code).filter((c): c is string => c !== undefined) ?? [];
  const detailText = body?.details
    .map((d) => [d.code, d.message].filter(Boolean).join(': '))
    .filter(Boolean)
    .join('; ');
  const allText = [azureMessage, detailText].filter(Boolean).join('; ');
  const retryAfterMs = retryAfterFromHeaders(headers) ?? retryAfterFromText(allText);
  const azureText = allText ? redact(code ? `${code}: ${allText}` : allText) : undefined;
  return {
    table,
    operation,
    status,
    code,
    headers,
    detailCodes,
    allText,
    base: { status, code, operation, requestId, retryAfterMs, azureMessage: azureText },
    what: `${describeOperation(operation)} ${describeTable(table)}`,
    azureSays: redact(allText),
    tag: `${status}${code ? ` ${code}` : ''}`,
    wait:
      retryAfterMs !== undefined ? `retry after ${Math.ceil(retryAfterMs / 1000)}s` : 'no Retry-After given',
  };
}

/** Someone else's write got there first, or is still running, or Azure wants us to slow down. */
function contentionError(f: RestErrorFacts): AzureError | undefined {
  const { table, status, code, base } = f;
  const isAnotherOperation =
    code === 'RetryableErrorDueToAnotherOperation' ||
    code === 'AnotherOperationInProgress' ||
    f.detailCodes.includes('RetryableErrorDueToAnotherOperation') ||
    f.detailCodes.includes('AnotherOperationInProgress');

  if (status === 412) {
    return new AzureError({
      ...base,
      kind: 'PreconditionFailed',
      message: `${describeTable(table)} changed since it was read (412 ${code ?? 'PreconditionFailed'}: its etag no longer matches If-Match); re-read it and plan again`,
    });
  }
  if (isAnotherOperation || (status === 409 && code === 'RetryableError')) {
    return new AzureError({
      ...base,
      kind: 'RetryableConflict',
      message: `another operation is updating ${describeTable(table)} (${f.tag}: ${f.azureSays}); ${f.wait}`,
    });
  }
  if (status === 429) {
    const remaining = f.headers?.get('x-ms-ratelimit-remaining-subscription-writes');
    return new AzureError({
      ...base,
      kind: 'Throttled',
      message:
        `Azure Resource Manager throttled ${f.what} (${f.tag}: ${f.azureSays}); ${f.wait}. ` +
        "Requests to this subscription exceed Azure's rate limits, which every client of the subscription shares" +
        (remaining !== undefined ? ` (remaining writes: ${remaining})` : ''),
    });
  }
  return undefined;
}

function accessError(f: RestErrorFacts): AzureError | undefined {
  if (f.status === 401) {
    return new AzureError({
      ...f.base,
      kind: 'Unauthorized',
      message: unauthorizedMessage(f.what, f.tag, f.azureSays, f.code),
    });
  }
  if (f.status === 403) {
    return new AzureError({
      ...f.base,
      kind: 'Forbidden',
      message: forbiddenMessage(f.what, f.table, f.tag, f.code, f.allText),
    });
  }
  return undefined;
}

/** A 404 names the subscription, the resource group, the operation's status or the table itself. */
function notFoundError(f: RestErrorFacts): AzureError {
  const { table, code, base, tag } = f;
  if (code === 'SubscriptionNotFound' || code === 'InvalidSubscriptionId') {
    return new AzureError({
      ...base,
      kind: 'SubscriptionNotFound',
      message:
        `subscription "${table.subscriptionId}" was not found (${tag}): check --subscription-id or azure.json ` +
        '"subscriptionId", and that the identity belongs to the tenant of that subscription',
    });
  }
  if (code === 'ResourceGroupNotFound') {
    return new AzureError({
      ...base,
      kind: 'ResourceGroupNotFound',
      message:
        `resource group "${table.resourceGroup}" was not found in subscription ${table.subscriptionId} (${tag}): ` +
        'check --resource-group, or azure.json "routeTableResourceGroup" / "resourceGroup"',
    });
  }
  if (f.operation === 'Operations_Get') {
    return new AzureError({
      ...base,
      kind: 'Other',
      message: `the status of the write of ${describeTable(table)} could not be read (${tag}: ${f.azureSays}); the next reconcile re-reads the table`,
    });
  }
  return tableNotFoundError(table, base);
}

/** Everything else: locks, registration, server errors and requests Azure refused. */
function refusalError(f: RestErrorFacts): AzureError {
  const { table, status, code, base, what, tag, azureSays } = f;
  if (status === 409 && code === 'ScopeLocked') {
    return new AzureError({
      ...base,
      kind: 'Forbidden',
      message: `a resource lock prevents ${what} (${tag}: ${azureSays}): remove the ReadOnly lock from the table, its resource group or subscription`,
    });
  }
  if (status === 409 && code === 'MissingSubscriptionRegistration') {
    return new AzureError({
      ...base,
      kind: 'BadRequest',
      message: `subscription ${table.subscriptionId} is not registered for Microsoft.Network (${tag}): run "az provider register --namespace Microsoft.Network"`,
    });
  }
  if (status >= 500 || status === 408) {
    return new AzureError({
      ...base,
      kind: 'ServerError',
      message: `Azure answered ${tag} to ${what}: ${azureSays}; this is usually transient and is retried`,
    });
  }
  if (status === 400 || status === 409 || status === 422) {
    return new AzureError({
      ...base,
      kind: 'BadRequest',
      message: `Azure refused ${what} (${tag}): ${azureSays}`,
    });
  }
  return new AzureError({ ...base, kind: 'Other', message: `${what} failed (${tag}): ${azureSays}` });
}

function unauthorizedMessage(what: string, tag: string, azureSays: string, code: string | undefined): string {
  const hint =
    code === 'InvalidAuthenticationTokenTenant'
      ? 'the token comes from another tenant: set azure.json "tenantId" to the tenant of the subscription'
      : code === 'InvalidAuthenticationTokenAudience'
        ? 'the token was minted for another audience: check --cloud and --arm-endpoint (the token scope follows them)'
        : code === 'ExpiredAuthenticationToken'
          ? "the token has expired: check this machine's clock"
          : 'check that azure.json "tenantId" is the tenant of the subscription, that --cloud/--arm-endpoint match ' +
            "the identity's cloud, and that the identity still exists";
  return `Azure Resource Manager rejected the access token for ${what} (${tag}: ${azureSays}): ${hint}`;
}

function forbiddenMessage(
  what: string,
  table: TableRef,
  tag: string,
  code: string | undefined,
  text: string,
): string {
  const client = /client '([^']+)'(?: with object id '([^']+)')?/i.exec(text);
  const principal = client ? ` (client ${client[1]}${client[2] ? `, object id ${client[2]}` : ''})` : '';
  const grant =
    `grant it on resource group "${table.resourceGroup}" with a custom role that holds ` +
    'Microsoft.Network/routeTables/read, Microsoft.Network/routeTables/write and ' +
    'Microsoft.Network/locations/operations/read (deploy/azure/route-controller-role.json), or the built-in Network Contributor ' +
    'role; a new role assignment can take a few minutes to apply';
  if (code === 'LinkedAuthorizationFailed') {
    const linked = /permission to perform action\(?s?\)? '([^']+)' on the linked scope\(s\) '([^']+)'/i.exec(
      text,
    );
    if (linked) {
      return `the Azure identity${principal} may not perform action ${linked[1]} on the linked scope ${linked[2]}, which ${what} needs (${tag}): grant that action on that scope`;
    }
  }
  if (code === 'RequestDisallowedByPolicy') {
    return `an Azure Policy assignment denies ${what} (${tag}: ${redact(text)}): ask the policy owner for an exemption`;
  }
  const action = /perform action '([^']+)'/i.exec(text)?.[1];
  const scope = /over scope '([^']+)'/i.exec(text)?.[1];
  if (action) {
    return (
      `the Azure identity${principal} is not allowed to perform ${action}` +
      `${scope ? ` on ${scope}` : ''} (${tag}): ${grant}`
    );
  }
  return `Azure denied ${what}${principal} (${tag}: ${redact(text)}): ${grant}`;
}

/** Names the ARM operation behind a request, from its method and URL. */
export function operationOf(method: string, url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  if (/\/providers\/Microsoft\.Network\/locations\/[^/]+\/(operations|operationResults)\//i.test(path)) {
    return 'Operations_Get';
  }
  if (/\/providers\/Microsoft\.Network\/routeTables\/[^/]+\/?$/i.test(path)) {
    if (method === 'GET') return 'RouteTables_Get';
    if (method === 'PUT') return 'RouteTables_CreateOrUpdate';
    if (method === 'DELETE') return 'RouteTables_Delete';
    if (method === 'PATCH') return 'RouteTables_UpdateTags';
  }
  return undefined;
}
