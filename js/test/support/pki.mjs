// A throwaway PKI for the TLS tests, made at test time with node-forge (RSA keys come from
// Node's native generator): CAs per trust domain and leaves with DNS, IP and SPIFFE URI SANs,
// like host's tests/support/certs.rs.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import forge from 'node-forge';

const { pki } = forge;

function serial() {
  // Positive, 16 bytes.
  return `01${randomBytes(15).toString('hex')}`;
}

function validity(cert, { expired = false } = {}) {
  const now = Date.now();
  if (expired) {
    cert.validity.notBefore = new Date('2019-01-01T00:00:00Z');
    cert.validity.notAfter = new Date('2020-01-01T00:00:00Z');
  } else {
    cert.validity.notBefore = new Date(now - 5 * 60 * 1000);
    cert.validity.notAfter = new Date(now + 24 * 60 * 60 * 1000);
  }
}

/** A SAN list: `{ dns }`, `{ ip }` or `{ uri }` entries. */
function altNames(sans) {
  return sans.map((san) => {
    if (san.dns) return { type: 2, value: san.dns };
    if (san.ip) return { type: 7, ip: san.ip };
    if (san.uri) return { type: 6, value: san.uri };
    throw new Error(`unknown SAN ${JSON.stringify(san)}`);
  });
}

export class Ca {
  /** A CA whose certificate carries the trust domain's SPIFFE ID. */
  constructor(trustDomain) {
    this.trustDomain = trustDomain;
    this.keys = pki.rsa.generateKeyPair({ bits: 2048 });
    const cert = pki.createCertificate();
    cert.publicKey = this.keys.publicKey;
    cert.serialNumber = serial();
    validity(cert);
    const subject = [{ name: 'commonName', value: `${trustDomain} test CA` }];
    cert.setSubject(subject);
    cert.setIssuer(subject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
      { name: 'subjectAltName', altNames: altNames([{ uri: `spiffe://${trustDomain}` }]) },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(this.keys.privateKey, forge.md.sha256.create());
    this.cert = cert;
    this.pem = pki.certificateToPem(cert);
  }

  /** A leaf certificate (server and client auth) with these SANs, and its key. */
  issue(sans, options = {}) {
    const keys = pki.rsa.generateKeyPair({ bits: 2048 });
    const cert = pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = serial();
    validity(cert, options);
    cert.setSubject([]);
    cert.setIssuer(this.cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyAgreement: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: altNames(sans), critical: true },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.cert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.keys.privateKey, forge.md.sha256.create());
    return { cert: pki.certificateToPem(cert), key: pki.privateKeyToPem(keys.privateKey) };
  }
}

/** node-forge's names of the key usages of the shared vectors (contentCommitment = nonRepudiation). */
const forgeKeyUsage = {
  digitalSignature: 'digitalSignature',
  contentCommitment: 'nonRepudiation',
  keyEncipherment: 'keyEncipherment',
  dataEncipherment: 'dataEncipherment',
  keyAgreement: 'keyAgreement',
  keyCertSign: 'keyCertSign',
  cRLSign: 'cRLSign',
  encipherOnly: 'encipherOnly',
  decipherOnly: 'decipherOnly',
};

/**
 * A certificate with exactly these properties (the shared SPIFFE vectors' `server` object),
 * issued by `ca` for `keys` (one key pair may serve many such certificates). Returns PEM.
 */
export function issueWithProperties(ca, keys, { uriSans, dnsOrIpSan, isCa, keyUsage }) {
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert);
  cert.setSubject([]);
  cert.setIssuer(ca.cert.subject.attributes);
  const sans = uriSans.map((uri) => ({ uri }));
  if (dnsOrIpSan) sans.push({ dns: 'metald.example.org' });
  const extensions = [{ name: 'basicConstraints', cA: isCa, critical: true }];
  if (keyUsage.length > 0) {
    const usage = { name: 'keyUsage', critical: true };
    for (const name of keyUsage) {
      if (!forgeKeyUsage[name]) throw new Error(`unknown key usage ${name}`);
      usage[forgeKeyUsage[name]] = true;
    }
    extensions.push(usage);
  }
  if (sans.length > 0) extensions.push({ name: 'subjectAltName', altNames: altNames(sans) });
  cert.setExtensions(extensions);
  cert.sign(ca.keys.privateKey, forge.md.sha256.create());
  return pki.certificateToPem(cert);
}

/** A key pair for issueWithProperties. */
export function keyPair() {
  return pki.rsa.generateKeyPair({ bits: 2048 });
}

/** The private key of a keyPair() as PEM. */
export function forgePrivateKeyPem(keys) {
  return pki.privateKeyToPem(keys.privateKey);
}

/** The SANs of a server on 127.0.0.1 / localhost. */
export const loopback = [{ dns: 'localhost' }, { ip: '127.0.0.1' }];

/** A temporary directory for PEM files; `write(name, text)` returns the path. */
export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'metald-js-tls-'));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
