// Maps the configured identity to its @azure/identity credential. The config layer decides which one (in
// upstream's order, ADR 9); this module only builds it, always against the cloud's authority host.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
  type AccessToken,
  type TokenCredential,
  type TokenCredentialOptions,
} from '@azure/identity';
import forge from 'node-forge';
import type { CredentialSpec } from '../config/types.ts';
import { AzureError, credentialError } from './errors.ts';

/** The placeholder bearer token of the test credential. It is not a secret and grants nothing. */
export const INSECURE_TEST_TOKEN = 'insecure-test-token';

/**
 * A credential that returns a fixed placeholder token. Only for a plain-HTTP loopback endpoint (the
 * simulator): the store refuses to send any other credential's token over plain HTTP.
 */
export class InsecureTestCredential implements TokenCredential {
  getToken(): Promise<AccessToken> {
    return Promise.resolve({ token: INSECURE_TEST_TOKEN, expiresOnTimestamp: Date.now() + 60 * 60 * 1000 });
  }
}

export function isInsecureTestCredential(credential: TokenCredential): boolean {
  return credential instanceof InsecureTestCredential;
}

export interface CreateCredentialOptions {
  /**
   * Test seam: the HTTP client every token request goes through. The tests pass one that sends the request, as
   * it is, to a token endpoint on 127.0.0.1, to see on the wire what Microsoft Entra ID or IMDS would get.
   */
  readonly httpClient?: TokenCredentialOptions['httpClient'];
  /** Reads the certificate file (default: the file system). */
  readonly readFile?: (path: string) => Buffer;
}

/**
 * Builds the credential. A spec the SDK rejects up front (e.g. workload identity without a token file), or a
 * certificate that cannot be read, throws AzureError kind 'Credential' naming the settings to check.
 */
export function createCredential(
  spec: CredentialSpec,
  authorityHost: string,
  options: CreateCredentialOptions = {},
): TokenCredential {
  try {
    return build(spec, authorityHost, options);
  } catch (err) {
    throw credentialError(err, spec, authorityHost);
  }
}

function build(
  spec: CredentialSpec,
  authorityHost: string,
  options: CreateCredentialOptions,
): TokenCredential {
  const common = { authorityHost, ...(options.httpClient ? { httpClient: options.httpClient } : {}) };
  switch (spec.kind) {
    case 'clientSecret':
      return new ClientSecretCredential(spec.tenantId, spec.clientId, spec.clientSecret, common);
    case 'clientCertificate':
      // Upstream sends the certificate chain (x5c) with the assertion, which subject-name/issuer auth needs.
      return new ClientCertificateCredential(
        spec.tenantId,
        spec.clientId,
        { certificate: certificatePem(spec.certificatePath, spec.certificatePassword, options) },
        { ...common, sendCertificateChain: true },
      );
    case 'managedIdentity':
      if (spec.resourceId !== undefined)
        return new ManagedIdentityCredential({ resourceId: spec.resourceId, ...common });
      if (spec.clientId !== undefined)
        return new ManagedIdentityCredential({ clientId: spec.clientId, ...common });
      return new ManagedIdentityCredential(common);
    case 'workloadIdentity':
      return new WorkloadIdentityCredential({
        ...common,
        ...(spec.tenantId !== undefined ? { tenantId: spec.tenantId } : {}),
        ...(spec.clientId !== undefined ? { clientId: spec.clientId } : {}),
        ...(spec.tokenFilePath !== undefined ? { tokenFilePath: spec.tokenFilePath } : {}),
      });
    case 'default':
      return new DefaultAzureCredential({
        ...common,
        ...(spec.managedIdentityResourceId !== undefined
          ? { managedIdentityResourceId: spec.managedIdentityResourceId }
          : spec.managedIdentityClientId !== undefined
            ? { managedIdentityClientId: spec.managedIdentityClientId }
            : {}),
      });
    case 'insecureTest':
      return new InsecureTestCredential();
  }
}

/**
 * The certificate and its key as the PEM @azure/identity reads. A PEM file is passed on as it is (an encrypted key
 * is opened by the SDK with the password). Anything else is taken as PKCS#12, the PFX upstream reads: decrypted
 * in memory with aadClientCertPassword, never written anywhere, and the certificate that matches the key first.
 */
function certificatePem(
  path: string,
  password: string | undefined,
  options: CreateCredentialOptions,
): string {
  let bytes: Buffer;
  try {
    bytes = (options.readFile ?? readFileSync)(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code ?? err);
    throw certificateError(
      `cannot read azure.json "aadClientCertPath" ${path} (${why}); mount the certificate file at that path`,
    );
  }
  const text = bytes.toString('latin1');
  if (text.includes('-----BEGIN')) return text;
  return pkcs12ToPem(path, bytes, password ?? '');
}

function pkcs12ToPem(path: string, bytes: Buffer, password: string): string {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(bytes.toString('binary')), password);
  } catch (err) {
    const wrongPassword =
      err instanceof Error && /MAC could not be verified|wrong password|decrypt/i.test(err.message);
    throw certificateError(
      wrongPassword
        ? `azure.json "aadClientCertPath" ${path}: the PKCS#12 (PFX) file does not open with "aadClientCertPassword"; set the file's password there`
        : `azure.json "aadClientCertPath" ${path} is neither PEM nor a PKCS#12 (PFX) file; give the certificate with its private key in one of those forms`,
    );
  }
  const bags = (type: string | undefined): forge.pkcs12.Bag[] =>
    type === undefined ? [] : (p12.getBags({ bagType: type })[type] ?? []);
  const keys = [...bags(forge.pki.oids['pkcs8ShroudedKeyBag']), ...bags(forge.pki.oids['keyBag'])];
  const certs = bags(forge.pki.oids['certBag']);
  if (keys.length === 0 || certs.length === 0) {
    throw certificateError(
      `azure.json "aadClientCertPath" ${path}: the PKCS#12 (PFX) file holds ${keys.length === 0 ? 'no private key' : 'no certificate'}; export it with both`,
    );
  }
  const keyAsn1 = keys[0]!.key
    ? forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(keys[0]!.key))
    : keys[0]!.asn1;
  const key = createPrivateKey({
    key: Buffer.from(forge.asn1.toDer(keyAsn1).getBytes(), 'binary'),
    format: 'der',
    type: 'pkcs8',
  });
  const x509 = certs.map((bag): X509Certificate => {
    const asn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
    return new X509Certificate(Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary'));
  });
  // The SDK signs with the key and thumbprints the first certificate: that one must be the key's own.
  x509.sort((a, b) => Number(b.checkPrivateKey(key)) - Number(a.checkPrivateKey(key)));
  if (!x509[0]!.checkPrivateKey(key)) {
    throw certificateError(
      `azure.json "aadClientCertPath" ${path}: no certificate in the PKCS#12 (PFX) file matches its private key`,
    );
  }
  const keyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  return [keyPem, ...x509.map((c) => c.toString())].join('\n');
}

function certificateError(message: string): AzureError {
  return new AzureError({ kind: 'Credential', message });
}
