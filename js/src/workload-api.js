// SPIFFE mode's source of X.509-SVIDs and trust bundles: the SPIFFE Workload API
// (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE_Workload_API.md), called with
// @grpc/grpc-js over its unix socket. `FetchX509SVID` is a server stream: the agent sends the
// current SVIDs and bundles at once and again whenever they change (rotation), so the stream
// stays open for the source's life and each new connection takes the material current then.
//
// Runs in preview2-shim's I/O worker (see worker-extension.js), whose event loop keeps
// running while the component's calls block the main thread. The socket setting is resolved
// on the main thread (resolveSpiffeSocket), where the environment is the caller's.

import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import { parseSpiffeId } from './tls-policy.js';

/** The Workload API socket when neither the option nor the environment names one (as SPIRE's default). */
export const DEFAULT_SPIFFE_SOCKET = '/var/lib/spire/agent/agent.sock';
/** How long to wait for the first X.509-SVID by default, as the Rust host (README "## TLS"). */
export const DEFAULT_SPIFFE_TIMEOUT_MS = 10000;
/** How long to wait before re-opening a failed stream. */
const RECONNECT_MS = 1000;

/**
 * The Workload API endpoint of a socket setting, as the Rust host reads it
 * (host/src/tls/spiffe.rs): `unix:PATH`, `unix://PATH` or a path; `tcp:` endpoints are passed
 * through. Without a setting: UNKEY_METALD_SPIFFE_SOCKET, else SPIFFE_ENDPOINT_SOCKET, else
 * /var/lib/spire/agent/agent.sock.
 * @param {string | undefined} socket
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {{ endpoint: string, path: string | null }}
 */
export function resolveSpiffeSocket(socket, env = process.env) {
  const setting = [socket, env.UNKEY_METALD_SPIFFE_SOCKET, env.SPIFFE_ENDPOINT_SOCKET].find(
    (value) => typeof value === 'string' && value !== '',
  ) ?? DEFAULT_SPIFFE_SOCKET;
  if (setting.startsWith('unix://')) {
    const path = setting.slice('unix://'.length);
    return { endpoint: `unix:${path}`, path };
  }
  if (setting.startsWith('unix:')) return { endpoint: setting, path: setting.slice('unix:'.length) };
  if (setting.startsWith('tcp:')) return { endpoint: setting, path: null };
  return { endpoint: `unix:${setting}`, path: setting };
}

/**
 * The SVID to present among those offered (in the Workload API's order): the one with
 * `spiffeId`, or the first. Throws an Error naming the ID asked for and the offered ones
 * (testdata/spiffe-workload-api.json, `svid_selection`).
 * @template {{ spiffeId: string }} T
 * @param {T[]} svids
 * @param {string | null | undefined} spiffeId
 * @returns {T}
 */
export function selectSvid(svids, spiffeId) {
  if (spiffeId === null || spiffeId === undefined) {
    if (svids.length === 0) throw new Error('the Workload API offered no X.509-SVID');
    return svids[0];
  }
  const svid = svids.find((s) => s.spiffeId === spiffeId);
  if (!svid) {
    throw new Error(
      `no X.509-SVID with the SPIFFE ID ${spiffeId} (tls.spiffe.spiffeId); offered: ${svids.map((s) => s.spiffeId).join(', ')}`,
    );
  }
  return svid;
}

/** An error of SPIFFE mode, naming the Workload API endpoint (`ERR_METALD_SPIFFE`). */
export class SpiffeError extends Error {
  constructor(endpoint, problem, cause) {
    super(`the SPIFFE Workload API at ${endpoint}: ${problem}${cause ? `: ${cause.message ?? cause}` : ''}`);
    this.name = 'SpiffeError';
    this.code = 'ERR_METALD_SPIFFE';
    this.endpoint = endpoint;
  }
}

let serviceClass;

/** The generated client class of `SpiffeWorkloadAPI`, from generated/workload.proto (a copy of devserver/proto/workload.proto made by scripts/build.mjs). */
function workloadApiClient() {
  if (!serviceClass) {
    const definition = protoLoader.loadSync(fileURLToPath(new URL('../generated/workload.proto', import.meta.url)), {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
    });
    serviceClass = grpc.loadPackageDefinition(definition).SpiffeWorkloadAPI;
  }
  return serviceClass;
}

/** DER certificates, concatenated (as the Workload API sends chains and bundles), as PEM blocks. */
export function derCertificatesToPem(bytes) {
  const der = Buffer.from(bytes);
  const pems = [];
  let offset = 0;
  while (offset < der.length) {
    // A certificate is one DER SEQUENCE: its length says where the next one starts.
    if (der[offset] !== 0x30 || offset + 2 > der.length) throw new TypeError('not a DER certificate sequence');
    let length = der[offset + 1];
    let header = 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count < 1 || count > 4 || offset + 2 + count > der.length) throw new TypeError('bad DER length');
      length = 0;
      for (let i = 0; i < count; i += 1) length = length * 256 + der[offset + 2 + i];
      header = 2 + count;
    }
    const end = offset + header + length;
    if (end > der.length) throw new TypeError('truncated DER certificate');
    const cert = new X509Certificate(der.subarray(offset, end));
    pems.push(cert.toString());
    offset = end;
  }
  return pems;
}

/**
 * One X.509-SVID of a response, as TLS options: `{ spiffeId, cert (PEM chain), key (PEM),
 * bundle (PEM list), serial, digest }`. Throws a TypeError when the material does not parse.
 */
function svidOf(message) {
  const chain = derCertificatesToPem(message.x509_svid);
  if (chain.length === 0) throw new TypeError(`the SVID ${message.spiffe_id} has no certificate`);
  const key = createPrivateKey({ key: Buffer.from(message.x509_svid_key), format: 'der', type: 'pkcs8' });
  const leaf = new X509Certificate(chain[0]);
  if (!leaf.checkPrivateKey(key)) throw new TypeError(`the key of the SVID ${message.spiffe_id} does not match its certificate`);
  parseSpiffeId(message.spiffe_id);
  return {
    spiffeId: message.spiffe_id,
    cert: chain.join(''),
    key: key.export({ format: 'pem', type: 'pkcs8' }),
    bundle: derCertificatesToPem(message.bundle),
    serial: leaf.serialNumber,
    digest: createHash('sha256').update(leaf.raw).digest('hex').slice(0, 16),
  };
}

/**
 * The SVIDs and bundles of the Workload API, kept current by its stream.
 *
 * `current()` is the latest material: `{ svids, bundles }` where `bundles` maps each trust
 * domain (ours and federated ones) to its PEM CA certificates.
 */
export class X509Source {
  #endpoint;
  #client;
  #call = null;
  #closed = false;
  #current = null;
  #lastError = null;
  #waiters = new Set();
  #retryTimer = null;
  /** Called with the new material after every update. */
  onUpdate = () => {};

  /**
   * Opens the stream and waits at most `timeoutMs` for the first SVID. Rejects with a
   * SpiffeError naming the socket and the cause (no socket, refused, no identity, timeout).
   * @param {{ endpoint: string, path: string | null, timeoutMs: number }} options
   */
  static async open({ endpoint, path, timeoutMs }) {
    if (path !== null && !existsSync(path)) {
      const error = new SpiffeError(
        endpoint,
        `the socket ${path} does not exist (is the SPIRE agent running?); refusing to fall back to plaintext`,
      );
      error.code = 'ERR_METALD_SPIFFE_NO_SOCKET';
      throw error;
    }
    const source = new X509Source(endpoint);
    try {
      await source.#first(timeoutMs);
    } catch (error) {
      source.close();
      throw error;
    }
    return source;
  }

  constructor(endpoint) {
    this.#endpoint = endpoint;
    const Client = workloadApiClient();
    // The Workload API is local: no TLS on the socket (the agent attests us by our process).
    // grpc-js takes `unix:PATH` as it is and a TCP address as host:port.
    const target = endpoint.replace(/^tcp:(\/\/)?/, '');
    this.#client = new Client(target, grpc.credentials.createInsecure());
    this.#stream();
  }

  get endpoint() {
    return this.#endpoint;
  }

  /** The latest SVIDs and bundles, or null before the first. */
  current() {
    return this.#current;
  }

  #stream() {
    if (this.#closed) return;
    const metadata = new grpc.Metadata();
    // Required by the Workload API specification: requests without it are refused.
    metadata.set('workload.spiffe.io', 'true');
    const call = this.#client.FetchX509SVID({}, metadata);
    this.#call = call;
    call.on('data', (response) => this.#update(response));
    call.on('error', (error) => {
      if (this.#closed || call !== this.#call) return;
      this.#lastError = error;
      this.#notify();
      // A broken stream (agent restart) is re-opened; the material we have stays in use.
      this.#retryTimer = setTimeout(() => this.#stream(), RECONNECT_MS);
      this.#retryTimer.unref?.();
    });
    call.on('end', () => {
      if (this.#closed || call !== this.#call) return;
      this.#retryTimer = setTimeout(() => this.#stream(), RECONNECT_MS);
      this.#retryTimer.unref?.();
    });
  }

  #update(response) {
    try {
      const svids = response.svids.map(svidOf);
      if (svids.length === 0) throw new TypeError('the Workload API sent no X.509-SVID');
      const bundles = new Map();
      // Each SVID's bundle is its own trust domain's.
      for (const svid of svids) bundles.set(parseSpiffeId(svid.spiffeId).trustDomain, svid.bundle);
      for (const [domainId, der] of Object.entries(response.federated_bundles ?? {})) {
        const domain = domainId.startsWith('spiffe://') ? parseSpiffeId(domainId).trustDomain : domainId;
        if (!bundles.has(domain)) bundles.set(domain, derCertificatesToPem(der));
      }
      this.#current = { svids, bundles };
      this.#lastError = null;
      this.onUpdate(this.#current);
    } catch (error) {
      // Unusable material is not applied; the previous one stays current.
      this.#lastError = error;
    }
    this.#notify();
  }

  #notify() {
    for (const waiter of this.#waiters) waiter();
  }

  /** Resolves at the first SVID; rejects with the stream's error or after `timeoutMs`. */
  #first(timeoutMs) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const check = () => {
        if (this.#current) {
          finish();
          resolve();
        } else if (this.#lastError) {
          const error = this.#lastError;
          finish();
          reject(new SpiffeError(this.#endpoint, 'fetching an X.509-SVID', describeGrpcError(error)));
        }
      };
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      timer = setTimeout(() => {
        finish();
        reject(new SpiffeError(this.#endpoint, `no X.509-SVID within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** Ends the stream and the channel. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#call?.cancel();
    this.#client.close();
  }
}

/** A gRPC error as a readable cause (`PermissionDenied: no identity issued`). */
function describeGrpcError(error) {
  if (error && typeof error.code === 'number' && grpc.status[error.code]) {
    const name = grpc.status[error.code]
      .toLowerCase()
      .replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase());
    return new Error(`${name}: ${error.details || error.message}`);
  }
  return error;
}
