import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import {
  AzureError,
  credentialError,
  notSettledError,
  operationFailedError,
  redact,
  routeRefusedMessage,
  retryAfterFromHeaders,
  timeoutError,
  toAzureError,
} from '../../src/azure/errors.ts';
import { REF, TABLE_PATH } from './helpers.ts';

const ctx = { operation: 'RouteTables_CreateOrUpdate', table: REF } as const;
const URL_PUT = `https://management.azure.com${TABLE_PATH}?api-version=2026-01-01`;

function restError(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  url = URL_PUT,
): RestError {
  const request = createPipelineRequest({ url, method: 'PUT' });
  const inner = (body as { error?: { code?: string; message?: string } }).error;
  return new RestError(inner?.message ?? `Unexpected status code: ${status}`, {
    statusCode: status,
    ...(inner?.code !== undefined ? { code: inner.code } : {}),
    request,
    response: { headers: createHttpHeaders(headers), status, request },
  });
}

describe('toAzureError', () => {
  it('maps 429 RetryableErrorDueToAnotherOperation to RetryableConflict, not Throttled', () => {
    const body = {
      error: {
        code: 'RetryableError',
        message: 'A retryable error occurred.',
        details: [
          {
            code: 'RetryableErrorDueToAnotherOperation',
            message:
              'Operation DeleteRouteOperation is updating resource x. The call can be retried in 7 seconds.',
          },
        ],
      },
    };
    const err = toAzureError(restError(429, body), { ...ctx, body });
    expect(err.kind).toBe('RetryableConflict');
    expect(err.retryable).toBe(true);
    // No Retry-After header: taken from Azure's text.
    expect(err.retryAfterMs).toBe(7000);
  });

  it('maps plain 429 throttling to Throttled with the Retry-After', () => {
    const err = toAzureError(
      restError(
        429,
        { error: { code: 'SubscriptionRequestsThrottled', message: 'too many' } },
        { 'Retry-After': '17' },
      ),
      ctx,
    );
    expect(err.kind).toBe('Throttled');
    expect(err.retryAfterMs).toBe(17_000);
    expect(err.message).toContain('retry after 17s');
    expect(err.operation).toBe('RouteTables_CreateOrUpdate');
  });

  it('names the operation from the request URL (a poll is Operations_Get)', () => {
    const poll =
      'https://management.azure.com/subscriptions/s/providers/Microsoft.Network/locations/westus2/operations/o?api-version=2026-01-01';
    const err = toAzureError(
      restError(500, { error: { code: 'InternalServerError', message: 'boom' } }, {}, poll),
      ctx,
    );
    expect(err.kind).toBe('ServerError');
    expect(err.operation).toBe('Operations_Get');
    expect(err.retryable).toBe(true);
  });

  it('names the linked action of LinkedAuthorizationFailed', () => {
    const message =
      "The client 'c1' with object id 'o1' has permission to perform action 'Microsoft.Network/routeTables/write' on scope '/x'; however, it does not have permission to perform action(s) 'Microsoft.Network/virtualNetworks/subnets/join/action' on the linked scope(s) '/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/a' or the linked scope(s) are invalid.";
    const err = toAzureError(restError(403, { error: { code: 'LinkedAuthorizationFailed', message } }), ctx);
    expect(err.kind).toBe('Forbidden');
    expect(err.message).toContain('Microsoft.Network/virtualNetworks/subnets/join/action');
    expect(err.message).toContain('/virtualNetworks/v/subnets/a');
  });

  it('names the missing read action on a 403 for a GET', () => {
    const message =
      "The client 'c1' with object id 'o1' does not have authorization to perform action 'Microsoft.Network/routeTables/read' over scope '/subscriptions/s/resourceGroups/rg' or the scope is invalid.";
    const err = toAzureError(restError(403, { error: { code: 'AuthorizationFailed', message } }), {
      ...ctx,
      operation: 'RouteTables_Get',
    });
    expect(err.message).toContain(
      'not allowed to perform Microsoft.Network/routeTables/read on /subscriptions/s/resourceGroups/rg',
    );
    expect(err.message).toContain('custom role');
  });

  it('gives tenant, audience and expiry their own 401 hints', () => {
    const tenant = toAzureError(
      restError(401, { error: { code: 'InvalidAuthenticationTokenTenant', message: 'm' } }),
      ctx,
    );
    expect(tenant.kind).toBe('Unauthorized');
    expect(tenant.message).toContain('tenantId');
    const audience = toAzureError(
      restError(401, { error: { code: 'InvalidAuthenticationTokenAudience', message: 'm' } }),
      ctx,
    );
    expect(audience.message).toContain('--arm-endpoint');
  });

  it('maps a ReadOnly lock to Forbidden with the fix', () => {
    const err = toAzureError(restError(409, { error: { code: 'ScopeLocked', message: 'locked' } }), ctx);
    expect(err.kind).toBe('Forbidden');
    expect(err.message).toContain('lock');
  });

  it("maps 400 to BadRequest with Azure's inner details", () => {
    const body = {
      error: {
        code: 'InvalidRequestFormat',
        message: 'Cannot parse the request.',
        details: [{ code: 'InvalidJson', message: 'Invalid value for nextHopIpAddress.' }],
      },
    };
    const err = toAzureError(restError(400, body), { ...ctx, body });
    expect(err.kind).toBe('BadRequest');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('Invalid value for nextHopIpAddress');
  });

  it('maps a transport error (no status) to Network naming the endpoint', () => {
    const request = createPipelineRequest({ url: URL_PUT, method: 'PUT' });
    const err = toAzureError(new RestError('getaddrinfo ENOTFOUND', { code: 'ENOTFOUND', request }), ctx);
    expect(err.kind).toBe('Network');
    expect(err.message).toContain('https://management.azure.com');
  });

  it("maps core-lro's failure message to OperationFailed", () => {
    const err = toAzureError(
      new Error('The long-running operation has failed. InternalServerError. An error occurred.'),
      ctx,
    );
    expect(err.kind).toBe('OperationFailed');
    expect(err.code).toBe('InternalServerError');
    expect(err.retryable).toBe(false);
  });

  it('passes an AzureError through unchanged', () => {
    const original = new AzureError({ kind: 'Timeout', message: 'late' });
    expect(toAzureError(original, ctx)).toBe(original);
  });

  it('keeps unknown errors as Other with the cause', () => {
    const cause = new Error('weird');
    const err = toAzureError(cause, ctx);
    expect(err.kind).toBe('Other');
    expect(err.cause).toBe(cause);
  });

  it('says a timed-out write may still complete, and a timed-out read does not', () => {
    expect(timeoutError('RouteTables_CreateOrUpdate', REF, 300_000).message).toContain(
      'may still complete in Azure',
    );
    const read = timeoutError('RouteTables_Get', REF, 1500).message;
    expect(read).toContain('1.5s');
    expect(read).not.toContain('may still complete');
  });
});

describe('credential errors', () => {
  it('turns an Entra refusal into one message with the AADSTS reason and the settings to check', () => {
    const secret = 'very-secret-value-0123';
    const err = credentialError(
      new AuthenticationError(401, {
        error: 'invalid_client',
        error_description: `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 1 Correlation ID: 2 Timestamp: 2025-07-14`,
      }),
      { kind: 'clientSecret', tenantId: 'tenant-1', clientId: 'app-1', clientSecret: secret },
      'https://login.microsoftonline.com',
    );
    expect(err.kind).toBe('Credential');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('AADSTS7000215');
    expect(err.message).toContain('application "app-1" in tenant "tenant-1"');
    expect(err.message).toContain('https://login.microsoftonline.com');
    expect(err.message).toContain('"aadClientSecret"');
    expect(err.message).not.toContain('Trace ID');
    expect(err.message).not.toContain(secret);
  });

  it('names the managed identity and what to check', () => {
    const err = toAzureError(
      new CredentialUnavailableError(
        'ManagedIdentityCredential: Authentication failed. No managed identity endpoint found.',
      ),
      { ...ctx, credential: { kind: 'managedIdentity', clientId: 'mi-client' } },
    );
    expect(err.kind).toBe('Credential');
    expect(err.message).toContain('user-assigned managed identity "mi-client"');
    expect(err.message).toContain('userAssignedIdentityID');
  });

  it('never prints a certificate password that appears in an underlying message', () => {
    const password = 'p@ssw0rd-for-the-pem';
    const err = credentialError(new Error(`could not decrypt key with ${password}`), {
      kind: 'clientCertificate',
      tenantId: 't',
      clientId: 'c',
      certificatePath: '/etc/kubernetes/sp.pem',
      certificatePassword: password,
    });
    expect(err.message).toContain('/etc/kubernetes/sp.pem');
    expect(err.message).toContain('aadClientCertPassword');
    expect(err.message).not.toContain(password);
  });
});

describe('helpers', () => {
  it('redacts bearer tokens, JWTs and secrets in query strings', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQifQ.c2lnbmF0dXJlLXBhcnQ';
    const text = redact(`Authorization: Bearer abc.def.ghi token ${jwt} client_secret=s3cr3t&x=1`);
    expect(text).not.toContain('abc.def.ghi');
    expect(text).not.toContain(jwt);
    expect(text).not.toContain('s3cr3t');
  });

  it('reads Retry-After as seconds, milliseconds or an HTTP date', () => {
    expect(retryAfterFromHeaders(createHttpHeaders({ 'retry-after': '3' }))).toBe(3000);
    expect(retryAfterFromHeaders(createHttpHeaders({ 'retry-after-ms': '250' }))).toBe(250);
    const now = Date.parse('2025-07-14T10:00:00Z');
    expect(
      retryAfterFromHeaders(createHttpHeaders({ 'retry-after': 'Mon, 14 Jul 2025 10:00:05 GMT' }), () => now),
    ).toBe(5000);
    expect(retryAfterFromHeaders(createHttpHeaders({}))).toBeUndefined();
  });
});

describe('messages for provisioning state and refused routes', () => {
  it('NotSettled names the table, its state, the reads made and what happens next', () => {
    const err = notSettledError(REF, 'Updating', 11, 29_625);
    expect(err.kind).toBe('NotSettled');
    expect(err.retryable).toBe(true);
    expect(err.message).toBe(
      'route table "kubernetes-routes" in resource group "kubernetes-the-hard-way" (subscription ' +
        `${REF.subscriptionId}) is still Updating after 11 reads over 29.6s (another write is in progress, ` +
        'or one whose writer died); it is not planned until it settles, and the next sync retries',
    );
  });

  it('a refused route names the route, its prefix, the table, what Azure said and the fix', () => {
    const message = routeRefusedMessage(
      REF,
      { name: 'worker-2____10200224', addressPrefix: '10.200.2.0/24' },
      'InvalidNextHopIpAddress: Route x has an invalid NextHopIpAddress 10.240.0.256.',
    );
    expect(message).toContain('Azure refused the route "worker-2____10200224" for 10.200.2.0/24');
    expect(message).toContain('route table "kubernetes-routes"');
    expect(message).toContain(
      '(InvalidNextHopIpAddress: Route x has an invalid NextHopIpAddress 10.240.0.256.)',
    );
    expect(message).toContain('the rest of the table was written');
  });

  it("an operation that ended Failed carries Azure's code and message, apart and in the message", () => {
    const err = operationFailedError(REF, {
      state: 'Failed',
      code: 'NetworkingInternalOperationError',
      message: 'An unexpected error occured while processing the network operation.',
    });
    expect(err.kind).toBe('OperationFailed');
    expect(err.code).toBe('NetworkingInternalOperationError');
    expect(err.azureMessage).toBe(
      'NetworkingInternalOperationError: An unexpected error occured while processing the network operation.',
    );
    expect(err.message).toContain(
      'ended Failed in Azure (NetworkingInternalOperationError: An unexpected error occured',
    );
    expect(err.message).toContain('not counted as applied');
  });

  it("keeps Azure's own text of a 400 (code first, details too) for the refused-route report", () => {
    const err = toAzureError(
      restError(400, {
        error: {
          code: 'InvalidCIDRNotation',
          message: 'The address prefix 10.200.2.1/24 in resource /x/routes/worker-2____10200224 is invalid.',
        },
      }),
      {
        ...ctx,
        body: {
          error: {
            code: 'InvalidCIDRNotation',
            message:
              'The address prefix 10.200.2.1/24 in resource /x/routes/worker-2____10200224 is invalid.',
          },
        },
      },
    );
    expect(err.kind).toBe('BadRequest');
    expect(err.azureMessage).toBe(
      'InvalidCIDRNotation: The address prefix 10.200.2.1/24 in resource /x/routes/worker-2____10200224 is invalid.',
    );
    expect(err.withMessage('other').azureMessage).toBe(err.azureMessage);
  });
});
