// Our wasi:http outgoing-handler for Node: TLS with a client certificate (PEM, files re-read
// when renewed, or the SPIFFE Workload API) and SPIFFE-aware server verification, HTTP/2 by
// ALPN and h2c, an allow-list, and the component's request-options timeouts.
//
// Two halves:
//  - This module and http-types.js run on the calling thread: the `wasi:http/types` classes
//    the component uses (our own, none of the shim's) and the handler, which checks the
//    allow-list before anything reaches the network.
//  - worker-extension.js runs in preview2-shim's I/O worker thread, loaded there through the
//    shim's public worker-extension hook (`callExtension` of
//    `@bytecodealliance/preview2-shim/io-worker`): connections, TLS, pools. The main thread
//    blocks on Atomics exactly as for the shim's own I/O, so the component's synchronous
//    calling convention is kept (no JSPI needed).
// From the shim this uses only its public modules: `io-worker` (the documented API for host
// providers), `io` and `clocks`. SHIM_CONTRACT lists what; test/shim-contract.test.mjs checks it.

import * as ioWorker from '@bytecodealliance/preview2-shim/io-worker';

import { AllowList, splitAuthority } from './allow.js';
import { OutgoingBody, OutgoingRequest, FutureIncomingResponse, types, worker } from './http-types.js';
import { checkMaterial, loadMaterialFiles, MEMORY_NAMES, pemText } from './tls-material.js';
import { parseSpiffeId, serverPolicy } from './tls-policy.js';
import { DEFAULT_SPIFFE_TIMEOUT_MS, resolveSpiffeSocket } from './workload-api.js';

export { types };

// Header bytes as the string node writes (latin1), so bytes round-trip.
const headerText = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

/**
 * What this transport needs from preview2-shim: functions of its public `io-worker` module
 * and of the context its I/O worker gives extensions. Checked when this module loads (a shim
 * without them fails at import, naming what is missing) and in detail, behaviour included,
 * by test/shim-contract.test.mjs. The shim is pinned exactly in package.json all the same:
 * the io-worker API is young and the shim is 0.x.
 */
export const SHIM_CONTRACT = Object.freeze({
  version: '0.26.1',
  ioWorker: ['callExtension', 'futureDispose', 'futureSubscribe', 'futureTakeValue', 'inputStreamCreate', 'outputStreamCreate'],
  extensionContext: ['createFuture', 'createReadableStream', 'createWritableStream'],
});

{
  const missing = SHIM_CONTRACT.ioWorker.filter((name) => typeof ioWorker[name] !== 'function');
  if (missing.length > 0) {
    throw new Error(
      `@metald/client: the installed @bytecodealliance/preview2-shim/io-worker lacks ${missing.join(', ')}; this package needs ${SHIM_CONTRACT.version}`,
    );
  }
}

const MEMORY_KEYS = ['cert', 'key', 'ca'];
const FILE_KEYS = ['certFile', 'keyFile', 'caFile'];
const KNOWN_KEYS = new Set([...MEMORY_KEYS, ...FILE_KEYS, 'passphrase', 'serverSpiffeId', 'reloadIntervalMs', 'spiffe']);

function nonNegativeMs(value, name) {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${name} must be a number of milliseconds >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Checks TLS options and derives what the I/O worker needs: the mode (`memory`, `files` or
 * `spiffe`), its settings and our SPIFFE trust domain. Problems are thrown now, each naming the
 * option (and file), instead of failing every call later.
 */
export function normalizeTls(tls) {
  if (typeof tls !== 'object' || tls === null) throw new TypeError('tls must be an object');
  for (const name of Object.keys(tls)) {
    if (!KNOWN_KEYS.has(name)) throw new TypeError(`tls.${name} is not a TLS option (${[...KNOWN_KEYS].join(', ')})`);
  }
  const { serverSpiffeId = null, passphrase } = tls;
  const given = (keys) => keys.filter((name) => tls[name] !== undefined && tls[name] !== null);
  const memory = given(MEMORY_KEYS);
  const files = given(FILE_KEYS);
  if (tls.spiffe !== undefined && tls.spiffe !== false) {
    const others = [...memory, ...files, ...given(['passphrase', 'reloadIntervalMs'])];
    if (others.length > 0) {
      throw new TypeError(`tls.spiffe takes the identity and CAs from the Workload API; remove tls.${others.join(', tls.')}`);
    }
    const spiffe = tls.spiffe === true ? {} : tls.spiffe;
    if (typeof spiffe !== 'object' || spiffe === null) throw new TypeError('tls.spiffe must be true or { socket, timeoutMs, spiffeId }');
    for (const name of Object.keys(spiffe)) {
      if (!['socket', 'timeoutMs', 'spiffeId'].includes(name)) {
        throw new TypeError(`tls.spiffe.${name} is not a SPIFFE option (socket, timeoutMs, spiffeId)`);
      }
    }
    if (spiffe.socket !== undefined && (typeof spiffe.socket !== 'string' || spiffe.socket === '')) {
      throw new TypeError('tls.spiffe.socket must be a path, unix:PATH or unix://PATH');
    }
    const timeoutMs = nonNegativeMs(spiffe.timeoutMs, 'tls.spiffe.timeoutMs') || DEFAULT_SPIFFE_TIMEOUT_MS;
    let spiffeId = null;
    if (spiffe.spiffeId !== undefined && spiffe.spiffeId !== null) {
      try {
        spiffeId = parseSpiffeId(spiffe.spiffeId).id;
      } catch (error) {
        throw new TypeError(`tls.spiffe.spiffeId: ${error.message}`);
      }
    }
    // The workload's own trust domain is known only once its SVID arrives (in the worker).
    serverPolicy({ serverSpiffeId });
    const { endpoint, path } = resolveSpiffeSocket(spiffe.socket);
    return { mode: 'spiffe', endpoint, path, timeoutMs, spiffeId, serverSpiffeId };
  }
  if (memory.length > 0 && files.length > 0) {
    throw new TypeError(`give the TLS material either as PEM (tls.${memory.join(', tls.')}) or as files (tls.${files.join(', tls.')}), not both`);
  }
  if (files.length > 0) {
    for (const name of files) {
      if (typeof tls[name] !== 'string' || tls[name] === '') throw new TypeError(`tls.${name} must be a file path`);
    }
    const reloadIntervalMs = nonNegativeMs(tls.reloadIntervalMs, 'tls.reloadIntervalMs') ?? 0;
    const config = { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile, passphrase };
    const { trustDomain } = loadMaterialFiles(config);
    serverPolicy({ serverSpiffeId, trustDomain });
    return { mode: 'files', ...config, reloadIntervalMs, serverSpiffeId, trustDomain };
  }
  if (tls.reloadIntervalMs !== undefined) throw new TypeError('tls.reloadIntervalMs applies to tls.certFile, tls.keyFile and tls.caFile');
  const material = checkMaterial(
    { cert: pemText(tls.cert, 'tls.cert'), key: pemText(tls.key, 'tls.key'), ca: pemText(tls.ca, 'tls.ca'), passphrase },
    MEMORY_NAMES,
  );
  // A configured server ID must name a workload (a bare trust domain is refused).
  serverPolicy({ serverSpiffeId, trustDomain: material.trustDomain });
  const { cert, key, ca, trustDomain } = material;
  return { mode: 'memory', cert, key, ca, passphrase, serverSpiffeId, trustDomain };
}

const transportFinalizers = new FinalizationRegistry((id) => {
  try {
    worker('close', id);
  } catch {
    // The worker is gone.
  }
});

function schemeName(scheme) {
  if (!scheme) return 'https';
  switch (scheme.tag) {
    case 'HTTP':
      return 'http';
    case 'HTTPS':
      return 'https';
    default:
      return String(scheme.val).toLowerCase();
  }
}

function methodName(method) {
  return method.tag === 'other' ? method.val : method.tag.toUpperCase();
}

/**
 * A transport: a `wasi:http/outgoing-handler` implementation and the `wasi:http/types` it
 * works with, to pass to the component's `instantiate`.
 *
 * @param {object} [options]
 * @param {Array<string>|AllowList} [options.allow] destinations the component may reach
 *   (`scheme://host:port`, `host:port`, `host`); everything else fails with
 *   `HTTP-request-denied`. Empty denies everything.
 * @param {object} [options.tls] client certificate and server verification: PEM
 *   (`{ cert, key, ca, passphrase, serverSpiffeId }`), files re-read when renewed
 *   (`{ certFile, keyFile, caFile, reloadIntervalMs, passphrase, serverSpiffeId }`) or the
 *   SPIFFE Workload API (`{ spiffe: true | { socket, timeoutMs, spiffeId }, serverSpiffeId }`).
 *   Without it, https servers are verified against Node's default roots.
 * @param {boolean} [options.http2] offer HTTP/2 by ALPN over TLS (default true)
 * @param {boolean} [options.h2c] HTTP/2 with prior knowledge for http:// (default false)
 */
export function createTransport({ allow = [], tls, http2 = true, h2c = false } = {}) {
  const allowList = allow instanceof AllowList ? allow : new AllowList(allow);
  if (typeof http2 !== 'boolean') throw new TypeError('http2 must be a boolean');
  if (typeof h2c !== 'boolean') throw new TypeError('h2c must be a boolean');
  const tlsConfig = tls ? normalizeTls(tls) : null;
  const workerTls = tlsConfig && { ...tlsConfig };
  if (workerTls && workerTls.passphrase === undefined) delete workerTls.passphrase;
  const id = worker('open', { tls: workerTls, http2, h2c });
  const stats = { requests: 0, denied: 0 };
  let closed = false;

  const outgoingHandler = {
    /**
     * @param {OutgoingRequest} request
     * @param {import('@bytecodealliance/preview2-shim/http').types.RequestOptions | undefined} options
     */
    handle(request, options) {
      stats.requests += 1;
      if (!(request instanceof OutgoingRequest)) {
        throw { tag: 'internal-error', val: 'the request was not made with this transport\'s wasi:http/types' };
      }
      if (closed) throw { tag: 'internal-error', val: 'the metald transport is closed' };
      const scheme = schemeName(request.scheme());
      const authority = splitAuthority(request.authority());
      const pathWithQuery = request.pathWithQuery();
      if (authority === null || !pathWithQuery) throw { tag: 'HTTP-request-URI-invalid' };
      if (!allowList.allows(scheme, authority.host, authority.port)) {
        stats.denied += 1;
        throw { tag: 'HTTP-request-denied' };
      }
      const headers = request.headers().entries().map(([name, value]) => [name, headerText(value)]);
      const futureId = worker('request', id, {
        method: methodName(request.method()),
        scheme,
        host: authority.host,
        port: authority.port,
        pathWithQuery,
        headers,
        bodyId: OutgoingBody.streamId(OutgoingRequest.bodyOf(request)),
        connectTimeout: options?.connectTimeout(),
        firstByteTimeout: options?.firstByteTimeout(),
        betweenBytesTimeout: options?.betweenBytesTimeout(),
      });
      return new FutureIncomingResponse(futureId);
    },
  };

  // The component instance holds the handler; once neither is reachable, free the pool.
  transportFinalizers.register(outgoingHandler, id, outgoingHandler);

  return {
    outgoingHandler,
    types,
    allow: allowList,
    stats,
    /**
     * Requests sent per protocol (`{ h2, 'http/1.1' }`) and the client identity new TLS
     * connections present now (`{ spiffeId, serial }`, or null without a client certificate).
     */
    info() {
      if (closed) return null;
      return worker('info', id);
    },
    /** Closes the transport's pooled connections (and its Workload API stream); later requests fail. */
    close() {
      if (closed) return;
      closed = true;
      transportFinalizers.unregister(outgoingHandler);
      worker('close', id);
    },
  };
}
