// The client side of `wasi:http/types@0.2` (wit/deps/http/types.wit) for our transport, on the
// calling thread: fields, request options, outgoing requests and bodies, incoming responses
// and bodies, and the future of a response.
//
// Written against preview2-shim's public surface only, so that a shim upgrade cannot change
// them from under us:
//  - `@bytecodealliance/preview2-shim/io-worker` (the shim's documented API for host
//    providers): `callExtension` runs our operations in the shim's I/O worker
//    (worker-extension.js); `outputStreamCreate`/`inputStreamCreate` wrap the worker's
//    request and response body streams as the shim's `wasi:io/streams` resources, and
//    `futureSubscribe`/`futureTakeValue`/`futureDispose` its futures.
//  - `wasi:io/error`'s `to-debug-string` (a WIT method) to classify a failed body read.
//  - `wasi:clocks/monotonic-clock`'s `subscribe-duration` for an always-ready pollable.
// None of the shim's own `wasi:http` classes is used or subclassed.

import { monotonicClock } from '@bytecodealliance/preview2-shim/clocks';
import {
  callExtension,
  futureDispose,
  futureSubscribe,
  futureTakeValue,
  inputStreamCreate,
  outputStreamCreate,
} from '@bytecodealliance/preview2-shim/io-worker';

import { splitAuthority } from './allow.js';

const symbolDispose = Symbol.dispose || Symbol.for('dispose');
const EXTENSION = new URL('./worker-extension.js', import.meta.url);
/** Runs `operation` in the shim's I/O worker (worker-extension.js) and returns its result. */
export const worker = (operation, ...args) => callExtension(EXTENSION, operation, args);

// ---------------------------------------------------------------------------------------
// Fields

/**
 * Header names the component may not set: hop-by-hop and connection-level headers the
 * transport owns (the list of wasmtime-wasi-http, which the Rust host uses).
 */
export const FORBIDDEN_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

// RFC 9110 section 5.1 (field-name = token) and 5.5 (no CR, LF or NUL in a value).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const validValue = (bytes) => !bytes.some((b) => b === 0x0d || b === 0x0a || b === 0x00);

function checkName(name) {
  if (typeof name !== 'string' || !TOKEN.test(name)) throw { tag: 'invalid-syntax' };
  if (FORBIDDEN_HEADERS.has(name.toLowerCase())) throw { tag: 'forbidden' };
}

function checkValue(value) {
  if (!(value instanceof Uint8Array) || !validValue(value)) throw { tag: 'invalid-syntax' };
}

/** `wasi:http/types.fields`: header or trailer fields, ordered, names case-insensitive. */
export class Fields {
  /** @type {Array<[string, Uint8Array]>} */
  #entries = [];
  #immutable = false;

  /** @param {Array<[string, Uint8Array]>} entries */
  static fromList(entries) {
    const fields = new Fields();
    for (const [name, value] of entries) {
      checkName(name);
      checkValue(value);
      fields.#entries.push([name, value]);
    }
    return fields;
  }

  /** Response fields from the network: hop-by-hop and malformed ones left out; immutable. */
  static fromResponse(pairs) {
    const fields = new Fields();
    for (const [name, text] of pairs) {
      const value = new Uint8Array(Buffer.from(text, 'latin1'));
      try {
        checkName(name);
        checkValue(value);
      } catch {
        continue;
      }
      fields.#entries.push([name, value]);
    }
    fields.#immutable = true;
    return fields;
  }

  /** Makes `fields` immutable (as the request or response that now owns them). */
  static lock(fields) {
    fields.#immutable = true;
  }

  #mutable() {
    if (this.#immutable) throw { tag: 'immutable' };
  }

  get(name) {
    const lower = name.toLowerCase();
    return this.#entries.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
  }

  has(name) {
    const lower = name.toLowerCase();
    return this.#entries.some(([n]) => n.toLowerCase() === lower);
  }

  set(name, values) {
    this.#mutable();
    checkName(name);
    for (const value of values) checkValue(value);
    const lower = name.toLowerCase();
    this.#entries = this.#entries.filter(([n]) => n.toLowerCase() !== lower);
    for (const value of values) this.#entries.push([name, value]);
  }

  delete(name) {
    this.#mutable();
    checkName(name);
    const lower = name.toLowerCase();
    this.#entries = this.#entries.filter(([n]) => n.toLowerCase() !== lower);
  }

  append(name, value) {
    this.#mutable();
    checkName(name);
    checkValue(value);
    this.#entries.push([name, value]);
  }

  entries() {
    return this.#entries.map(([name, value]) => [name, value]);
  }

  /** A mutable copy. */
  clone() {
    const copy = new Fields();
    copy.#entries = this.entries();
    return copy;
  }

  [symbolDispose]() {}
}

// ---------------------------------------------------------------------------------------
// Requests

/** `wasi:http/types.request-options`: the component's timeouts, in ns (undefined: none). */
export class RequestOptions {
  #connectTimeout;
  #firstByteTimeout;
  #betweenBytesTimeout;

  connectTimeout() {
    return this.#connectTimeout;
  }

  setConnectTimeout(duration) {
    this.#connectTimeout = duration ?? undefined;
  }

  firstByteTimeout() {
    return this.#firstByteTimeout;
  }

  setFirstByteTimeout(duration) {
    this.#firstByteTimeout = duration ?? undefined;
  }

  betweenBytesTimeout() {
    return this.#betweenBytesTimeout;
  }

  setBetweenBytesTimeout(duration) {
    this.#betweenBytesTimeout = duration ?? undefined;
  }

  [symbolDispose]() {}
}

/**
 * `wasi:http/types.outgoing-body`: a stream in the I/O worker (a PassThrough the transport
 * pipes into the request), made when the handler or `write` first needs it.
 */
export class OutgoingBody {
  #streamId = null;
  #streamTaken = false;
  #finished = false;
  #contentLength;

  /** @param {number | undefined} contentLength the request's content-length, checked at `finish` */
  constructor(contentLength) {
    this.#contentLength = contentLength;
  }

  /** The worker id of the body stream (the handler passes it to the worker). */
  static streamId(body) {
    if (body.#streamId === null) body.#streamId = worker('body-open', body.#contentLength);
    return body.#streamId;
  }

  write() {
    if (this.#streamTaken || this.#finished) throw undefined;
    this.#streamTaken = true;
    return outputStreamCreate(OutgoingBody.streamId(this));
  }

  /**
   * Ends the body: the request is complete. Throws `HTTP-request-body-size` when fewer or more
   * bytes than the request's content-length were written. Trailers are not supported.
   */
  static finish(body, trailers) {
    if (trailers) throw { tag: 'internal-error', val: 'trailers are not supported' };
    if (body.#finished) throw { tag: 'internal-error', val: 'the body is already finished' };
    body.#finished = true;
    worker('body-finish', OutgoingBody.streamId(body));
  }

  [symbolDispose]() {
    // Dropped without `finish`: the request is aborted rather than sent incomplete.
    if (!this.#finished && this.#streamId !== null) {
      this.#finished = true;
      worker('body-abort', this.#streamId);
    }
  }
}

const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PATH = /^[\x21-\x7e]*$/;

/** `wasi:http/types.outgoing-request`. */
export class OutgoingRequest {
  #method = { tag: 'get' };
  #scheme = undefined;
  #authority = undefined;
  #pathWithQuery = undefined;
  #headers;
  #body;
  #bodyTaken = false;

  constructor(headers) {
    if (!(headers instanceof Fields)) throw new TypeError('outgoing-request needs fields');
    Fields.lock(headers);
    this.#headers = headers;
    const declared = headers.get('content-length');
    const length = declared.length === 1 ? Number(Buffer.from(declared[0]).toString('latin1')) : undefined;
    this.#body = new OutgoingBody(Number.isSafeInteger(length) && length >= 0 ? length : undefined);
  }

  /** The body, for the handler (which may run before or after the component takes it). */
  static bodyOf(request) {
    return request.#body;
  }

  body() {
    if (this.#bodyTaken) throw undefined;
    this.#bodyTaken = true;
    return this.#body;
  }

  method() {
    return this.#method;
  }

  setMethod(method) {
    if (method?.tag === 'other' && !METHOD.test(method.val)) throw undefined;
    this.#method = method;
  }

  pathWithQuery() {
    return this.#pathWithQuery;
  }

  setPathWithQuery(pathWithQuery) {
    if (pathWithQuery !== undefined && pathWithQuery !== null && !PATH.test(pathWithQuery)) throw undefined;
    this.#pathWithQuery = pathWithQuery ?? undefined;
  }

  scheme() {
    return this.#scheme;
  }

  setScheme(scheme) {
    if (scheme?.tag === 'other' && !/^[a-zA-Z][a-zA-Z0-9+.-]*$/.test(scheme.val)) throw undefined;
    this.#scheme = scheme ?? undefined;
  }

  // Bracketed IPv6 authorities are accepted, as the Rust host accepts them.
  authority() {
    return this.#authority;
  }

  setAuthority(authority) {
    if (authority !== undefined && authority !== null && splitAuthority(authority) === null) throw undefined;
    this.#authority = authority ?? undefined;
  }

  headers() {
    return this.#headers;
  }

  [symbolDispose]() {}
}

// ---------------------------------------------------------------------------------------
// Responses

/** An always-ready pollable (wasi:clocks: a zero duration). */
const readyPollable = () => monotonicClock.subscribeDuration(0n);

/** `wasi:http/types.future-trailers`: responses carry no trailers here. */
export class FutureTrailers {
  #taken = false;

  subscribe() {
    return readyPollable();
  }

  get() {
    if (this.#taken) return { tag: 'err' };
    this.#taken = true;
    return { tag: 'ok', val: { tag: 'ok', val: undefined } };
  }

  [symbolDispose]() {}
}

/** `wasi:http/types.incoming-body`: a readable stream in the I/O worker. */
export class IncomingBody {
  #streamId;
  #streamTaken = false;
  #released = false;

  constructor(streamId) {
    this.#streamId = streamId;
  }

  stream() {
    if (this.#streamTaken) throw undefined;
    this.#streamTaken = true;
    return inputStreamCreate(this.#streamId);
  }

  static finish(body) {
    body.#release();
    return new FutureTrailers();
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

/** `wasi:http/types.incoming-response`. */
export class IncomingResponse {
  #status;
  #headers;
  #body;

  constructor(status, headers, bodyStreamId) {
    this.#status = status;
    this.#headers = Fields.fromResponse(headers);
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

/** `wasi:http/types.future-incoming-response`: a future in the I/O worker. */
export class FutureIncomingResponse {
  #id;

  constructor(id) {
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

// ---------------------------------------------------------------------------------------
// Errors

/**
 * The wasi:http error code of a failed body read (`http-error-code`). The worker fails body
 * streams with messages that start with the Node or metald error code
 * (`ERR_METALD_BETWEEN_BYTES_TIMEOUT: ...`, worker-extension.js), which `to-debug-string`
 * carries.
 */
export function httpErrorCode(error) {
  let text;
  try {
    text = String(error.toDebugString());
  } catch {
    return undefined;
  }
  const code = /^(?:[A-Za-z]*Error: )?([A-Z][A-Z0-9_]+): /.exec(text)?.[1];
  switch (code) {
    case 'ERR_METALD_BETWEEN_BYTES_TIMEOUT':
      return { tag: 'connection-read-timeout' };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
    case 'ERR_METALD_RESET':
      return { tag: 'HTTP-response-incomplete' };
    default:
      if (code?.startsWith('HPE_') || code?.startsWith('ERR_HTTP2_')) return { tag: 'HTTP-protocol-error' };
      return { tag: 'internal-error', val: text };
  }
}

/** `wasi:http/types` as the component imports it (the client side). */
export const types = {
  Fields,
  RequestOptions,
  OutgoingRequest,
  OutgoingBody,
  FutureIncomingResponse,
  IncomingResponse,
  IncomingBody,
  FutureTrailers,
  httpErrorCode,
};
