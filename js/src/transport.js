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

import { X509Certificate, createPrivateKey } from 'node:crypto';

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
import { serverPolicy, trustDomainOfCertificate } from './tls-policy.js';

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

/** PEM input (string, Buffer, Uint8Array, or a list of them) as a string or list of strings. */
function pemText(value, name) {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.map((v) => pemText(v, name));
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  throw new TypeError(`tls.${name} must be a PEM string or Buffer`);
}

const firstPem = (value) => (Array.isArray(value) ? value[0] : value);

/**
 * Checks TLS options and derives what the worker needs (our SPIFFE trust domain).
 * Problems are thrown now, each naming the option, instead of failing every call later.
 */
export function normalizeTls(tls) {
  const { serverSpiffeId = null, passphrase } = tls;
  const cert = pemText(tls.cert, 'cert');
  const key = pemText(tls.key, 'key');
  const ca = pemText(tls.ca, 'ca');
  if (cert !== undefined && key === undefined) throw new TypeError('tls.cert needs its private key: pass tls.key');
  if (key !== undefined && cert === undefined) throw new TypeError('tls.key needs its certificate: pass tls.cert');
  let trustDomain = null;
  if (cert !== undefined) {
    let leaf;
    try {
      leaf = new X509Certificate(firstPem(cert));
    } catch (error) {
      throw new TypeError(`tls.cert: not a PEM certificate (${error.message})`);
    }
    const now = Date.now();
    if (now > Date.parse(leaf.validTo)) throw new TypeError(`tls.cert: the certificate expired on ${leaf.validTo}`);
    if (now < Date.parse(leaf.validFrom)) throw new TypeError('tls.cert: the certificate is not valid yet');
    let privateKey;
    try {
      privateKey = createPrivateKey({ key: firstPem(key), passphrase });
    } catch (error) {
      throw new TypeError(`tls.key: not a usable private key (${error.message})`);
    }
    if (!leaf.checkPrivateKey(privateKey)) throw new TypeError('tls.key does not belong to tls.cert');
    trustDomain = trustDomainOfCertificate(firstPem(cert));
  }
  if (ca !== undefined) {
    for (const pem of [ca].flat()) {
      try {
        new X509Certificate(pem);
      } catch (error) {
        throw new TypeError(`tls.ca: not a PEM certificate (${error.message})`);
      }
    }
  }
  // A configured server ID must name a workload (a bare trust domain is refused).
  serverPolicy({ serverSpiffeId, trustDomain });
  return { cert, key, ca, passphrase, serverSpiffeId, trustDomain };
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
 * @param {object} [options.tls] `{ cert, key, ca, serverSpiffeId, passphrase }`; PEM strings or
 *   Buffers. Without it, https servers are verified against Node's default roots.
 */
export function createTransport({ allow = [], tls } = {}) {
  const allowList = allow instanceof AllowList ? allow : new AllowList(allow);
  const tlsConfig = tls ? normalizeTls(tls) : null;
  const workerTls = tlsConfig && { ...tlsConfig };
  if (workerTls && workerTls.passphrase === undefined) delete workerTls.passphrase;
  const id = worker('open', { tls: workerTls });
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
    /** Closes the transport's pooled connections; later requests fail. */
    close() {
      if (closed) return;
      closed = true;
      transportFinalizers.unregister(outgoingHandler);
      worker('close', id);
    },
  };
}
