// Server verification of file-mode TLS, as the Rust host does it (host/src/tls/files.rs and
// host/src/tls/authorize.rs): a server certificate with DNS or IP SANs is verified the usual
// way (chain to `ca`, then host name or IP); one that carries no DNS or IP SAN and a SPIFFE
// URI SAN is verified the SPIFFE way: chain to `ca` (Node does that before calling us), the
// X509-SVID leaf rules (exactly one URI SAN, a valid SPIFFE ID with a path, not a CA, no
// keyCertSign or cRLSign key usage), then the policy: equal to `serverSpiffeId`, or else in
// the trust domain of our own certificate's SPIFFE ID, or else refused (fail closed).
//
// The rules are one function, `authorizeServer`, checked against the shared vectors in
// testdata/spiffe-authorization.json, which the Rust and Go tests check too.
//
// Used on the main thread (to check options early) and in the preview2-shim I/O worker
// (where the TLS handshake runs).

import { X509Certificate } from 'node:crypto';
import { checkServerIdentity as defaultCheckServerIdentity } from 'node:tls';

/**
 * Parses a SPIFFE ID (`spiffe://trust-domain/path`) per the SPIFFE ID specification.
 * A bare trust domain (`spiffe://example.org`) parses, with an empty path.
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

// ---------------------------------------------------------------------------------------
// The facts of a leaf certificate, read from its DER (Node exposes neither the key usage bits
// nor an unambiguous SAN list).

/** One DER TLV at `offset`: { tag, start (of the contents), end }. */
function tlv(der, offset) {
  if (offset + 2 > der.length) throw new TypeError('truncated DER');
  const tag = der[offset];
  let length = der[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || start + count > der.length) throw new TypeError('bad DER length');
    length = 0;
    for (let i = 0; i < count; i += 1) length = length * 256 + der[start + i];
    start += count;
  }
  const end = start + length;
  if (end > der.length) throw new TypeError('truncated DER');
  return { tag, start, end };
}

/** The TLVs directly inside a constructed TLV. */
function children(der, { start, end }) {
  const out = [];
  for (let offset = start; offset < end; ) {
    const child = tlv(der, offset);
    out.push(child);
    offset = child.end;
  }
  return out;
}

const OID_KEY_USAGE = '551d0f';
const OID_BASIC_CONSTRAINTS = '551d13';
const OID_SUBJECT_ALT_NAME = '551d11';

/**
 * The properties of a DER certificate that the SPIFFE rules look at.
 * @param {Uint8Array} der
 * @returns {{ uris: string[], dnsOrIp: boolean, isCa: boolean, keyCertSign: boolean, crlSign: boolean }}
 */
export function leafFactsFromDer(der) {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  const facts = { uris: [], dnsOrIp: false, isCa: false, keyCertSign: false, crlSign: false };
  const certificate = tlv(bytes, 0);
  const tbs = children(bytes, certificate)[0];
  const extensionsWrapper = children(bytes, tbs).find((field) => field.tag === 0xa3);
  if (!extensionsWrapper) return facts;
  const [extensions] = children(bytes, extensionsWrapper);
  for (const extension of children(bytes, extensions)) {
    const parts = children(bytes, extension);
    const oid = Buffer.from(bytes.subarray(parts[0].start, parts[0].end)).toString('hex');
    const value = parts[parts.length - 1];
    const inner = tlv(bytes, value.start);
    if (oid === OID_KEY_USAGE) {
      // BIT STRING: unused-bit count, then bits from the most significant: digitalSignature(0),
      // nonRepudiation(1), keyEncipherment(2), dataEncipherment(3), keyAgreement(4),
      // keyCertSign(5), cRLSign(6), ...
      const first = inner.end - inner.start > 1 ? bytes[inner.start + 1] : 0;
      facts.keyCertSign = (first & 0x04) !== 0;
      facts.crlSign = (first & 0x02) !== 0;
    } else if (oid === OID_BASIC_CONSTRAINTS) {
      const fields = children(bytes, inner);
      facts.isCa = fields.length > 0 && fields[0].tag === 0x01 && bytes[fields[0].start] !== 0;
    } else if (oid === OID_SUBJECT_ALT_NAME) {
      for (const name of children(bytes, inner)) {
        if (name.tag === 0x86) facts.uris.push(Buffer.from(bytes.subarray(name.start, name.end)).toString('latin1'));
        if (name.tag === 0x82 || name.tag === 0x87) facts.dnsOrIp = true;
      }
    }
  }
  return facts;
}

/**
 * The facts of Node's peer certificate object: from its DER (`raw`) when present, else from
 * `subjectaltname` and `ca` (no key usage).
 * @param {{ raw?: Uint8Array, subjectaltname?: string, ca?: boolean }} cert
 */
export function leafFactsOf(cert) {
  if (cert.raw) return leafFactsFromDer(cert.raw);
  const sans = parseSubjectAltName(cert.subjectaltname);
  return {
    uris: sans.filter((s) => s.type === 'URI').map((s) => s.value),
    dnsOrIp: sans.some((s) => s.type === 'DNS' || s.type === 'IP Address'),
    isCa: Boolean(cert.ca),
    keyCertSign: false,
    crlSign: false,
  };
}

/**
 * Whether file mode verifies a leaf the SPIFFE way (no DNS or IP SAN, a spiffe:// URI SAN)
 * rather than by host name.
 */
export function usesSpiffeVerification(facts) {
  return !facts.dnsOrIp && facts.uris.some((u) => u.startsWith('spiffe://'));
}

/** A server identity refused by the SPIFFE rules; `spiffeReason` is the shared vectors' keyword. */
export class ServerIdentityError extends Error {
  constructor(reason, detail) {
    super(`server certificate refused (${reason}): ${detail}`);
    this.name = 'ServerIdentityError';
    this.code = 'ERR_METALD_SERVER_IDENTITY';
    // Not `reason`: Node's TLS errors use that name for the OpenSSL reason text.
    this.spiffeReason = reason;
  }
}

/**
 * The server policy from the options: `serverSpiffeId` (which must name a workload) and our
 * own trust domain. Throws a TypeError naming the option.
 * @param {{ serverSpiffeId?: string | null, trustDomain?: string | null }} options
 * @returns {{ serverSpiffeId: string | null, trustDomain: string | null }}
 */
export function serverPolicy({ serverSpiffeId = null, trustDomain = null } = {}) {
  let exact = null;
  if (serverSpiffeId !== null && serverSpiffeId !== undefined && serverSpiffeId !== '') {
    let parsed;
    try {
      parsed = parseSpiffeId(serverSpiffeId);
    } catch (error) {
      throw new TypeError(`tls.serverSpiffeId: ${error.message}`);
    }
    if (parsed.path === '') {
      throw new TypeError(
        `tls.serverSpiffeId ${JSON.stringify(serverSpiffeId)} is a bare trust domain; name the workload (spiffe://${parsed.trustDomain}/...)`,
      );
    }
    exact = parsed.id;
  }
  let domain = null;
  if (trustDomain !== null && trustDomain !== undefined && trustDomain !== '') {
    domain = parseSpiffeId(`spiffe://${trustDomain}`).trustDomain;
  }
  return { serverSpiffeId: exact, trustDomain: domain };
}

/**
 * The X509-SVID leaf rules and the policy, applied to a server leaf's facts; returns its
 * SPIFFE ID or throws a ServerIdentityError. The chain is verified by the caller.
 * @param {{ uris: string[], isCa: boolean, keyCertSign: boolean, crlSign: boolean }} facts
 * @param {{ serverSpiffeId: string | null, trustDomain: string | null }} policy from serverPolicy()
 * @returns {string}
 */
export function authorizeServer(facts, policy) {
  const refuse = (reason, detail) => {
    throw new ServerIdentityError(reason, detail);
  };
  if (facts.uris.length !== 1) {
    refuse(
      'uri-san-count',
      `an X509-SVID has exactly one URI SAN, the server's certificate has ${facts.uris.length}${facts.uris.length ? ` (${facts.uris.join(', ')})` : ''}`,
    );
  }
  const uri = facts.uris[0];
  if (!uri.startsWith('spiffe://')) refuse('not-spiffe-uri', `the server's URI SAN ${JSON.stringify(uri)} is not a SPIFFE ID`);
  let id;
  try {
    id = parseSpiffeId(uri);
  } catch (error) {
    refuse('malformed-id', `the server's SPIFFE ID ${JSON.stringify(uri)} is malformed: ${error.message}`);
  }
  if (facts.isCa) refuse('ca-leaf', `the server's leaf certificate (${uri}) is a CA`);
  if (facts.keyCertSign) refuse('key-cert-sign', `the server's leaf certificate (${uri}) has the keyCertSign key usage`);
  if (facts.crlSign) refuse('crl-sign', `the server's leaf certificate (${uri}) has the cRLSign key usage`);
  if (id.path === '') refuse('no-path', `the server's SPIFFE ID ${uri} is a bare trust domain, not a workload`);
  if (policy.serverSpiffeId !== null) {
    if (id.id !== policy.serverSpiffeId) {
      refuse('id-mismatch', `the server's SPIFFE ID ${uri} is not the expected ${policy.serverSpiffeId} (tls.serverSpiffeId)`);
    }
  } else if (policy.trustDomain !== null) {
    if (id.trustDomain !== policy.trustDomain) {
      refuse(
        'trust-domain-mismatch',
        `the server's SPIFFE ID ${uri} is outside our trust domain ${policy.trustDomain} (set tls.serverSpiffeId to accept it)`,
      );
    }
  } else {
    refuse(
      'no-policy',
      `no way to authorize the server's SPIFFE ID ${uri}: set tls.serverSpiffeId to the ID the server must have, or present a client certificate with a SPIFFE ID, whose trust domain is then accepted`,
    );
  }
  return id.id;
}

/**
 * The SPIFFE trust domain of the first certificate of a PEM chain, or null when it has no
 * (single, valid) SPIFFE ID.
 * @param {string} pem
 */
export function trustDomainOfCertificate(pem) {
  const { uris } = leafFactsFromDer(new X509Certificate(pem).raw);
  if (uris.length !== 1 || !uris[0].startsWith('spiffe://')) return null;
  try {
    return parseSpiffeId(uris[0]).trustDomain;
  } catch {
    return null;
  }
}

/**
 * A `checkServerIdentity` for `tls.connect`. Node calls it after the chain has been verified
 * against `ca`, so only the identity is left to check here. With `spiffeOnly` (SPIFFE mode)
 * every server certificate is checked as an X509-SVID and authorized by SPIFFE ID, with no
 * host name check, as go-spiffe's and the Rust host's SPIFFE mode do.
 * @param {{ serverSpiffeId?: string | null, trustDomain?: string | null, spiffeOnly?: boolean }} options
 */
export function makeCheckServerIdentity(options = {}) {
  const policy = serverPolicy(options);
  const spiffeOnly = Boolean(options.spiffeOnly);
  return function checkServerIdentity(hostname, cert) {
    let facts;
    try {
      facts = leafFactsOf(cert);
    } catch (error) {
      return new ServerIdentityError('malformed-certificate', `the server's certificate does not parse: ${error.message}`);
    }
    if (!spiffeOnly && !usesSpiffeVerification(facts)) return defaultCheckServerIdentity(hostname, cert);
    try {
      authorizeServer(facts, policy);
      return undefined;
    } catch (error) {
      return error;
    }
  };
}
