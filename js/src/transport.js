// Our wasi:http outgoing-handler for Node: TLS with a client certificate and SPIFFE-aware
// server verification, an allow-list, and the component's request-options timeouts.
//
// It reuses preview2-shim's wasi:http/types and I/O worker instead of reimplementing them:
//  - The request side is the shim's `OutgoingRequest`, subclassed only to learn the id of
//    the body stream the shim already created in its I/O worker (the shim keeps that id
//    private). Fields, RequestOptions, OutgoingBody, output streams and pollables are the
//    shim's own.
//  - The request itself runs in the shim's I/O worker thread, loaded there through the
//    shim's public worker-extension hook (`callExtension` from
//    `@bytecodealliance/preview2-shim/io-worker`; see worker-extension.js). The main thread
//    blocks on Atomics exactly as for the shim's own I/O, so the component's synchronous
//    calling convention is kept (no JSPI needed).
//  - The response side is subclasses of the shim's `FutureIncomingResponse`,
//    `IncomingResponse` and `IncomingBody` (the shim's factories for them are private),
//    backed by the worker's future and stream tables through the same public io-worker API.

import { types as shimTypes } from '@bytecodealliance/preview2-shim/http';
import {
  callExtension,
  futureDispose,
  futureSubscribe,
  futureTakeValue,
  inputStreamCreate,
  outputStreamId,
} from '@bytecodealliance/preview2-shim/io-worker';

import { AllowList, splitAuthority } from './allow.js';
import { checkMaterial, loadMaterialFiles, MEMORY_NAMES, pemText } from './tls-material.js';
import { parseSpiffeId, serverPolicy } from './tls-policy.js';
import { DEFAULT_SPIFFE_TIMEOUT_MS, resolveSpiffeSocket } from './workload-api.js';

/**
 * What this transport needs from preview2-shim, checked when this module loads (so a shim
 * with another shape fails at import, naming what is missing) and in detail by
 * test/shim-contract.test.mjs. The shim keeps the factories of its response classes private,
 * so these classes are subclassed; hence the exact pin in package.json.
 */
export const SHIM_CONTRACT = Object.freeze({
  version: '0.26.1',
  ioWorker: ['callExtension', 'futureDispose', 'futureSubscribe', 'futureTakeValue', 'inputStreamCreate', 'outputStreamId'],
  httpTypes: ['Fields', 'RequestOptions', 'OutgoingRequest', 'OutgoingBody', 'FutureIncomingResponse', 'IncomingResponse', 'IncomingBody'],
  extensionContext: ['createFuture', 'createReadableStream', 'getStream'],
});

{
  const ioWorker = { callExtension, futureDispose, futureSubscribe, futureTakeValue, inputStreamCreate, outputStreamId };
  const missing = [
    ...SHIM_CONTRACT.ioWorker.filter((name) => typeof ioWorker[name] !== 'function').map((name) => `io-worker ${name}`),
    ...SHIM_CONTRACT.httpTypes.filter((name) => typeof shimTypes[name] !== 'function').map((name) => `http types.${name}`),
  ];
  if (missing.length > 0) {
    throw new Error(
      `@metald/client: the installed @bytecodealliance/preview2-shim lacks ${missing.join(', ')}; this package needs exactly ${SHIM_CONTRACT.version}`,
    );
  }
}

const symbolDispose = Symbol.dispose || Symbol.for('dispose');
const EXTENSION = new URL('./worker-extension.js', import.meta.url);
const worker = (operation, ...args) => callExtension(EXTENSION, operation, args);

const {
  Fields,
  OutgoingRequest: ShimOutgoingRequest,
  FutureIncomingResponse: ShimFutureIncomingResponse,
  IncomingResponse: ShimIncomingResponse,
  IncomingBody: ShimIncomingBody,
} = shimTypes;

// Header bytes <-> strings as node writes and reads them (latin1), so bytes round-trip.
const headerText = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
const headerBytes = (text) => new Uint8Array(Buffer.from(text, 'latin1'));

/** Request body stream ids, by request. */
const bodyStreamIds = new WeakMap();

/**
 * The shim's OutgoingRequest, taking its body stream at construction so that the handler
 * knows the stream's id in the I/O worker. The component still gets the body (once) from
 * `body()` and its output stream (once) from `write()`.
 */
class OutgoingRequest extends ShimOutgoingRequest {
  #body;
  #bodyTaken = false;
  #authority = undefined;

  constructor(headers) {
    super(headers);
    const body = super.body();
    const stream = body.write();
    bodyStreamIds.set(this, outputStreamId(stream));
    let streamTaken = false;
    Object.defineProperty(body, 'write', {
      configurable: true,
      value() {
        if (streamTaken) throw undefined;
        streamTaken = true;
        return stream;
      },
    });
    this.#body = body;
  }

  body() {
    if (this.#bodyTaken) throw undefined;
    this.#bodyTaken = true;
    return this.#body;
  }

  // The shim refuses bracketed IPv6 authorities; the Rust host accepts them.
  authority() {
    return this.#authority;
  }

  setAuthority(authority) {
    if (authority !== undefined && authority !== null && splitAuthority(authority) === null) throw undefined;
    this.#authority = authority ?? undefined;
  }
}

/** Header fields of a response: immutable, as wasi:http requires. */
class ResponseFields extends Fields {
  #locked = false;

  static fromPairs(pairs) {
    const fields = new ResponseFields();
    for (const [name, value] of pairs) {
      try {
        fields.append(name, headerBytes(value));
      } catch {
        // Hop-by-hop headers (connection, keep-alive) are forbidden in wasi:http fields.
      }
    }
    fields.#locked = true;
    return fields;
  }

  set(name, values) {
    if (this.#locked) throw { tag: 'immutable' };
    return super.set(name, values);
  }

  append(name, value) {
    if (this.#locked) throw { tag: 'immutable' };
    return super.append(name, value);
  }

  delete(name) {
    if (this.#locked) throw { tag: 'immutable' };
    return super.delete(name);
  }
}

/** A response body backed by a readable stream in the I/O worker. */
class IncomingBody extends ShimIncomingBody {
  #streamId;
  #streamTaken = false;
  #released = false;

  constructor(streamId) {
    super();
    this.#streamId = streamId;
  }

  stream() {
    if (this.#streamTaken) throw undefined;
    this.#streamTaken = true;
    return inputStreamCreate(this.#streamId);
  }

  static finish(body) {
    body.#release();
    return super.finish(body);
  }

  /** Lets the worker drop a response the component did not read to the end. */
  #release() {
    if (this.#released) return;
    this.#released = true;
    worker('release', this.#streamId);
  }

  [symbolDispose]() {
    this.#release();
  }
}

class IncomingResponse extends ShimIncomingResponse {
  #status;
  #headers;
  #body;

  constructor(status, headers, bodyStreamId) {
    super();
    this.#status = status;
    this.#headers = ResponseFields.fromPairs(headers);
    this.#body = new IncomingBody(bodyStreamId);
  }

  status() {
    return this.#status;
  }

  headers() {
    return this.#headers;
  }

  consume() {
    if (this.#body === undefined) throw undefined;
    const body = this.#body;
    this.#body = undefined;
    return body;
  }

  [symbolDispose]() {
    if (this.#body !== undefined) {
      this.#body[symbolDispose]();
      this.#body = undefined;
    }
  }
}

const futureFinalizers = new FinalizationRegistry((id) => {
  try {
    futureDispose(id);
  } catch {
    // Already gone.
  }
});

class FutureIncomingResponse extends ShimFutureIncomingResponse {
  #id;

  constructor(id) {
    super();
    this.#id = id;
    futureFinalizers.register(this, id, this);
  }

  subscribe() {
    return futureSubscribe(this.#id, this);
  }

  get() {
    const ret = futureTakeValue(this.#id);
    if (ret === undefined) return undefined;
    if (ret.tag === 'ok' && ret.val.tag === 'ok') {
      const { status, headers, bodyStreamId } = ret.val.val;
      ret.val.val = new IncomingResponse(status, headers, bodyStreamId);
    }
    return ret;
  }

  [symbolDispose]() {
    if (this.#id !== undefined) {
      futureFinalizers.unregister(this);
      const id = this.#id;
      this.#id = undefined;
      futureDispose(id);
    }
  }
}

/** The wasi:http error code of a failed stream read, for `http-error-code`. */
function httpErrorCode(error) {
  const payload = error?.payload;
  if (payload && typeof payload.tag === 'string') return payload;
  switch (payload?.code) {
    case 'ERR_METALD_BETWEEN_BYTES_TIMEOUT':
      return { tag: 'connection-read-timeout' };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return { tag: 'HTTP-response-incomplete' };
    default:
      if (payload?.code?.startsWith?.('HPE_')) return { tag: 'HTTP-protocol-error' };
      return { tag: 'internal-error', val: payload?.message ?? error?.message ?? String(error) };
  }
}

/**
 * `wasi:http/types` for the component: the shim's, with the request and response classes
 * above in place of the shim's.
 */
export const types = {
  ...shimTypes,
  OutgoingRequest,
  FutureIncomingResponse,
  IncomingResponse,
  IncomingBody,
  httpErrorCode,
};

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
        bodyId: bodyStreamIds.get(request),
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
