// Checks of client TLS material (certificate chain, private key, CA bundle), shared by the
// in-memory options (`tls.cert`/`tls.key`/`tls.ca`, checked on the main thread) and the files
// of `tls.certFile`/`tls.keyFile`/`tls.caFile` (read, and re-read when renewed, in the I/O
// worker). Each problem is a TypeError naming the option and, for files, the file, as the Rust
// host's file mode names them (host/src/tls/files.rs).

import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { trustDomainOfCertificate } from './tls-policy.js';

/** PEM input (string, Buffer, Uint8Array, or a list of them) as a string or list of strings. */
export function pemText(value, name) {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.map((v) => pemText(v, name));
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  throw new TypeError(`${name} must be a PEM string or Buffer`);
}

const firstPem = (value) => (Array.isArray(value) ? value[0] : value);

/** Every PEM certificate block of a text (a bundle may hold many). */
function pemBlocks(text) {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** A short digest of texts, for pool keys (identity and trust revisions). */
export function digestOf(...parts) {
  const hash = createHash('sha256');
  for (const part of parts.flat()) {
    const text = part === undefined || part === null ? '' : String(part);
    hash.update(`${text.length}:`);
    hash.update(text);
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Checks a client certificate chain, its key and a CA bundle; returns them with the client
 * certificate's SPIFFE trust domain (or null) and serial number.
 * @param {{ cert?: string|string[], key?: string|string[], ca?: string|string[], passphrase?: string }} material
 * @param {{ cert: string, key: string, ca: string }} names how to name each in errors
 */
export function checkMaterial({ cert, key, ca, passphrase }, names) {
  if (cert !== undefined && key === undefined) throw new TypeError(`${names.cert} needs its private key: pass ${names.keyOption}`);
  if (key !== undefined && cert === undefined) throw new TypeError(`${names.key} needs its certificate: pass ${names.certOption}`);
  let trustDomain = null;
  let serial = null;
  if (cert !== undefined) {
    let leaf;
    try {
      leaf = new X509Certificate(firstPem(cert));
    } catch (error) {
      throw new TypeError(`${names.cert}: not a PEM certificate (${error.message})`);
    }
    const now = Date.now();
    if (now > Date.parse(leaf.validTo)) throw new TypeError(`${names.cert}: the certificate expired on ${leaf.validTo}`);
    if (now < Date.parse(leaf.validFrom)) throw new TypeError(`${names.cert}: the certificate is not valid yet (from ${leaf.validFrom})`);
    let privateKey;
    try {
      privateKey = createPrivateKey({ key: firstPem(key), passphrase });
    } catch (error) {
      throw new TypeError(`${names.key}: not a usable private key (${error.message})`);
    }
    if (!leaf.checkPrivateKey(privateKey)) throw new TypeError(`${names.key} does not belong to ${names.cert}`);
    trustDomain = trustDomainOfCertificate(firstPem(cert));
    serial = leaf.serialNumber;
  }
  if (ca !== undefined) {
    for (const pem of [ca].flat()) {
      const blocks = pemBlocks(pem);
      if (blocks.length === 0) throw new TypeError(`${names.ca}: no PEM certificate in it`);
      for (const block of blocks) {
        try {
          new X509Certificate(block);
        } catch (error) {
          throw new TypeError(`${names.ca}: not a PEM certificate (${error.message})`);
        }
      }
    }
  }
  return { cert, key, ca, passphrase, trustDomain, serial };
}

/** Option names for in-memory material. */
export const MEMORY_NAMES = {
  cert: 'tls.cert',
  key: 'tls.key',
  ca: 'tls.ca',
  certOption: 'tls.cert',
  keyOption: 'tls.key',
};

/** Reads a file for `option`, or throws a TypeError naming both. */
function readFor(option, path) {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new TypeError(`${option} ${path}: cannot read it (${error.code ?? error.message})`);
  }
}

/**
 * Reads and checks `tls.certFile`, `tls.keyFile` and `tls.caFile`. Errors name the option and
 * the file (`tls.certFile /etc/metald/client.pem: the certificate expired on ...`).
 * @param {{ certFile?: string, keyFile?: string, caFile?: string, passphrase?: string }} files
 */
export function loadMaterialFiles({ certFile, keyFile, caFile, passphrase }) {
  const names = {
    cert: `tls.certFile ${certFile}`,
    key: `tls.keyFile ${keyFile}`,
    ca: `tls.caFile ${caFile}`,
    certOption: 'tls.certFile',
    keyOption: 'tls.keyFile',
  };
  const material = {
    cert: certFile === undefined ? undefined : readFor('tls.certFile', certFile),
    key: keyFile === undefined ? undefined : readFor('tls.keyFile', keyFile),
    ca: caFile === undefined ? undefined : readFor('tls.caFile', caFile),
    passphrase,
  };
  return checkMaterial(material, names);
}
