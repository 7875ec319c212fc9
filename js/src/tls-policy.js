// Server verification of file-mode TLS, as the Rust host does it (host/src/tls/files.rs):
// a server certificate with DNS or IP SANs is verified the usual way (chain to `ca`, then
// host name or IP); one that carries only a SPIFFE URI SAN is verified the SPIFFE way
// (chain to `ca`, not a CA itself, exactly one URI SAN, and its SPIFFE ID equal to
// `serverSpiffeId` or, without one, in the trust domain of our own certificate's SPIFFE ID).
//
// Used on the main thread (to check options early) and in the preview2-shim I/O worker
// (where the TLS handshake runs).

import { X509Certificate } from 'node:crypto';
import { checkServerIdentity as defaultCheckServerIdentity } from 'node:tls';

/**
 * Parses a SPIFFE ID (`spiffe://trust-domain/path`) per the SPIFFE ID specification.
 * @param {string} id
 * @returns {{ id: string, trustDomain: string, path: string }}
 */
export function parseSpiffeId(id) {
  const fail = (reason) => {
    throw new TypeError(`SPIFFE ID ${JSON.stringify(id)}: ${reason}`);
  };
  if (typeof id !== 'string') fail('expected a string');
  if (!id.startsWith('spiffe://')) fail('the scheme must be spiffe://');
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (trustDomain === '') fail('the trust domain is empty');
  if (!/^[a-z0-9._-]+$/.test(trustDomain)) {
    fail('the trust domain may only contain lower-case letters, digits, ".", "-" and "_"');
  }
  if (path !== '') {
    for (const segment of path.slice(1).split('/')) {
      if (segment === '') fail('the path has an empty segment or a trailing "/"');
      if (segment === '.' || segment === '..') fail('the path has a "." or ".." segment');
      if (!/^[A-Za-z0-9._-]+$/.test(segment)) {
        fail('path segments may only contain letters, digits, ".", "-" and "_"');
      }
    }
  }
  return { id, trustDomain, path };
}

/**
 * The entries of a certificate's `subjectaltname` string as Node formats it
 * (`DNS:a, IP Address:1.2.3.4, URI:spiffe://x/y`; values with special characters quoted).
 * @param {string | undefined} text
 * @returns {Array<{ type: string, value: string }>}
 */
export function parseSubjectAltName(text) {
  const entries = [];
  if (!text) return entries;
  const re = /([A-Za-z ]+):(?:"((?:[^"\\]|\\.)*)"|([^,]*))(?:, |$)/gy;
  let match;
  while ((match = re.exec(text)) !== null) {
    const value = match[2] !== undefined ? JSON.parse(`"${match[2]}"`) : match[3];
    entries.push({ type: match[1], value });
    if (re.lastIndex >= text.length) break;
  }
  return entries;
}

/** SANs of a certificate as the policy reads them. */
function summarize(subjectAltName) {
  const sans = parseSubjectAltName(subjectAltName);
  return {
    uris: sans.filter((s) => s.type === 'URI').map((s) => s.value),
    hasDnsOrIp: sans.some((s) => s.type === 'DNS' || s.type === 'IP Address'),
  };
}

/** The single SPIFFE ID of a certificate with exactly one URI SAN, a `spiffe://` one. */
function spiffeIdOf(uris) {
  return uris.length === 1 && uris[0].startsWith('spiffe://') ? uris[0] : null;
}

/**
 * The SPIFFE trust domain of the first certificate of a PEM chain, or null when it has no
 * (single) SPIFFE ID.
 * @param {string} pem
 */
export function trustDomainOfCertificate(pem) {
  const cert = new X509Certificate(pem);
  const id = spiffeIdOf(summarize(cert.subjectAltName).uris);
  if (id === null) return null;
  try {
    return parseSpiffeId(id).trustDomain;
  } catch {
    return null;
  }
}

/** An error the TLS layer reports as a refused server identity. */
function identityError(message) {
  const error = new Error(message);
  error.code = 'ERR_METALD_SERVER_IDENTITY';
  return error;
}

/**
 * A `checkServerIdentity` for `tls.connect`. Node calls it after the chain has been verified
 * against `ca`, so only the identity is left to check here.
 * @param {{ serverSpiffeId?: string | null, trustDomain?: string | null }} policy
 */
export function makeCheckServerIdentity({ serverSpiffeId = null, trustDomain = null } = {}) {
  const exact = serverSpiffeId ? parseSpiffeId(serverSpiffeId).id : null;
  return function checkServerIdentity(hostname, cert) {
    const { uris, hasDnsOrIp } = summarize(cert.subjectaltname);
    const spiffeOnly = !hasDnsOrIp && uris.some((u) => u.startsWith('spiffe://'));
    if (!spiffeOnly) return defaultCheckServerIdentity(hostname, cert);
    const id = spiffeIdOf(uris);
    if (id === null) {
      return identityError(`a SPIFFE certificate needs exactly one URI SAN, this one has ${uris.length}`);
    }
    if (cert.ca || (cert.raw && new X509Certificate(cert.raw).ca)) {
      return identityError("the server's leaf certificate is a CA");
    }
    let parsed;
    try {
      parsed = parseSpiffeId(id);
    } catch (error) {
      return identityError(`server SPIFFE ID ${id} is malformed: ${error.message}`);
    }
    if (exact !== null) {
      return parsed.id === exact ? undefined : identityError(`server SPIFFE ID ${id} is not the expected ${exact}`);
    }
    if (trustDomain !== null && parsed.trustDomain !== trustDomain) {
      return identityError(`server SPIFFE ID ${id} is outside our trust domain ${trustDomain}`);
    }
    return undefined;
  };
}
