// Azure's error answers: `{"error":{"code","message"}}` with the status ARM uses for each code.

export class ArmError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ArmError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }

  body(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export const NOT_FOUND_FIX = 'For more details please go to https://aka.ms/ARMResourceNotFoundFix';

export function missingApiVersion(): ArmError {
  return new ArmError(
    400,
    'MissingApiVersionParameter',
    'The api-version query parameter (?api-version=) is required for all requests.',
  );
}

export function subscriptionNotFound(subscriptionId: string): ArmError {
  return new ArmError(
    404,
    'SubscriptionNotFound',
    `The subscription '${subscriptionId}' could not be found.`,
  );
}

export function resourceGroupNotFound(resourceGroup: string): ArmError {
  return new ArmError(404, 'ResourceGroupNotFound', `Resource group '${resourceGroup}' could not be found.`);
}

export function resourceNotFound(type: string, name: string, resourceGroup: string): ArmError {
  return new ArmError(
    404,
    'ResourceNotFound',
    `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. ${NOT_FOUND_FIX}`,
  );
}

export function badRequest(code: string, message: string): ArmError {
  return new ArmError(400, code, message);
}

export function preconditionFailed(message: string): ArmError {
  return new ArmError(412, 'PreconditionFailed', message);
}

export function anotherOperationInProgress(
  status: 409 | 429,
  resourceId: string,
  operationId: string,
  retryAfterSeconds: number,
): ArmError {
  return new ArmError(
    status,
    'RetryableErrorDueToAnotherOperation',
    `Operation on resource '${resourceId}' cannot be performed now because operation '${operationId}' ` +
      `is in progress on the same resource. Retry the request after ${retryAfterSeconds} seconds.`,
    { 'retry-after': String(retryAfterSeconds) },
  );
}

export function throttled(
  kind: 'read' | 'write' | 'delete',
  subscriptionId: string,
  retryAfterSeconds: number,
  code = 'SubscriptionRequestsThrottled',
): ArmError {
  return new ArmError(
    429,
    code,
    `Number of '${kind}' requests for subscription '${subscriptionId}' actor 'simulator' exceeded. ` +
      `Please try again after '${retryAfterSeconds}' seconds after additional tokens are available. ` +
      'Refer to https://aka.ms/arm-throttling',
    { 'retry-after': String(retryAfterSeconds) },
  );
}

export function authorizationFailed(clientId: string, action: string, scope: string): ArmError {
  return new ArmError(
    403,
    'AuthorizationFailed',
    `The client '${clientId}' with object id '${clientId}' does not have authorization to perform action ` +
      `'${action}' over scope '${scope}' or the scope is invalid. ` +
      'If access was recently granted, please refresh your credentials.',
  );
}

export function invalidAuthenticationToken(message = 'The access token is invalid.'): ArmError {
  return new ArmError(401, 'InvalidAuthenticationToken', message, {
    'www-authenticate':
      'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", ' +
      `error_description="${message}"`,
  });
}

export function authenticationFailed(): ArmError {
  return new ArmError(
    401,
    'AuthenticationFailed',
    "Authentication failed. The 'Authorization' header is missing.",
    {
      'www-authenticate':
        'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", ' +
        'error_description="The authentication failed because of missing \'Authorization\' header."',
    },
  );
}

export function serverError(status: 500 | 503, retryAfterSeconds?: number): ArmError {
  const headers: Record<string, string> =
    retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) };
  return status === 503
    ? new ArmError(503, 'ServiceUnavailable', 'The service is temporarily unavailable.', headers)
    : new ArmError(500, 'InternalServerError', 'An error occurred.', headers);
}
