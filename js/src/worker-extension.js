// The half of our wasi:http outgoing-handler that runs inside preview2-shim's I/O worker
// thread, loaded there through the shim's public worker-extension hook
// (`callExtension` of `@bytecodealliance/preview2-shim/io-worker`). The main thread blocks
// (Atomics.wait) while the worker runs each call, exactly as for the shim's own I/O, so the
// component keeps its synchronous calling convention. The worker's event loop runs between
// calls too, which is what keeps the SPIFFE Workload API stream (rotation) and renewed
// certificate files current while the main thread is busy.
//
// Operations:
//   open(config) -> transportId      the transport's credentials (none, in-memory PEM, files
//                                     re-read when renewed, or the SPIFFE Workload API) and
//                                     its connection pools; rejects with a TypeError or a
//                                     SpiffeError naming the setting
//   request(transportId, req) -> futureId   starts one request; the future resolves to
//                                     { status, headers, bodyStreamId } or rejects with a
//                                     wasi:http error-code ({ tag, val })
//   body-open(contentLength) -> id   a request body stream (the component writes it through
//                                     the shim's wasi:io output stream of that id)
//   body-finish(id)                  ends it; HTTP-request-body-size when its length is not
//                                     the declared content-length
//   body-abort(id)                   fails it (the body was dropped unfinished)
//   release(bodyStreamId)            drops a response the component stopped reading
//   info(transportId)                requests by protocol and the identity in use
//   close(transportId)               destroys the transport's pooled connections
//
// Connections: https negotiates HTTP/2 by ALPN (h2, then http/1.1) and falls back to
// HTTP/1.1 when the server does not select h2; http uses HTTP/1.1, or HTTP/2 with prior
// knowledge (h2c) when asked. Pools are keyed by origin, client identity and trust revision
// (a digest of the certificate presented and of the CA certificates trusted), so a rotated
// SVID, renewed files or a changed bundle mean a new connection; the old one is not used for
// new requests and closes once its requests are done.
//
// Nothing here may throw asynchronously: the shim's worker treats any uncaught exception as
// fatal for every later call.

import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { PassThrough, Transform } from 'node:stream';
import tls from 'node:tls';

import { checkMaterial, digestOf, loadMaterialFiles, MEMORY_NAMES } from './tls-material.js';
import { makeCheckServerIdentity, parseSpiffeId } from './tls-policy.js';
import { SpiffeError, X509Source, selectSvid } from './workload-api.js';

const NS_PER_MS = 1000000n;
const noop = () => {};
/** Sockets that have our fallback error listener (pooled sockets serve many requests). */
const guardedSockets = new WeakSet();

/** Node's TLS verification failures (X509_V_ERR_* names) and our own identity failure. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'OUT_OF_MEM',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_METALD_SERVER_IDENTITY',
  'ERR_METALD_SPIFFE',
]);

/** HTTP/2 failures that mean the server did not process the request (RFC 9113 section 8.7). */
const H2_NOT_PROCESSED = new Set(['ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION']);
/** HTTP/2 failures of a connection or stream in use. */
const H2_TERMINATED = new Set(['ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_STREAM_CANCEL', 'ERR_HTTP2_SOCKET_UNBOUND']);

/** A node error as a wasi:http `error-code`, keeping the cause where the code has room. */
export function errorCodeOf(error) {
  if (error && typeof error.tag === 'string') return error;
  const code = error?.code ?? '';
  const message = error?.message ?? String(error);
  if (CERTIFICATE_CODES.has(code) || /^ERR_(SSL|TLS|OSSL)_/.test(code) || error?.library === 'SSL routines') {
    // Like the Rust host: every TLS failure is an alert with the cause as its message, which
    // the component reports as `unauthenticated` with that text.
    const alert = /SSL alert number (\d+)/.exec(message);
    const text = error?.reason ?? message.split('\n')[0];
    return {
      tag: 'TLS-alert-received',
      val: {
        alertId: alert ? Number(alert[1]) : undefined,
        alertMessage: code && !code.startsWith('ERR_METALD_') && !text.includes(code) ? `${text} (${code})` : text,
      },
    };
  }
  switch (code) {
    case 'ECONNREFUSED':
      return { tag: 'connection-refused' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return { tag: 'DNS-error', val: { rcode: code, infoCode: undefined } };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return { tag: 'destination-unavailable' };
    case 'ETIMEDOUT':
    case 'ERR_METALD_CONNECT_TIMEOUT':
      return { tag: 'connection-timeout' };
    case 'ERR_METALD_FIRST_BYTE_TIMEOUT':
    case 'ERR_METALD_BETWEEN_BYTES_TIMEOUT':
      return { tag: 'connection-read-timeout' };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
    case 'ERR_METALD_CLOSED':
      return { tag: 'connection-terminated' };
    case 'ERR_METALD_REFUSED_STREAM':
      return { tag: 'connection-refused' };
    case 'HPE_HEADER_OVERFLOW':
      return { tag: 'HTTP-response-header-section-size', val: undefined };
    default:
      if (code.startsWith('HPE_')) return { tag: 'HTTP-protocol-error' };
      if (H2_NOT_PROCESSED.has(code)) return { tag: 'connection-refused' };
      if (H2_TERMINATED.has(code)) return { tag: 'connection-terminated' };
      if (code.startsWith('ERR_HTTP2_')) return { tag: 'HTTP-protocol-error' };
      return { tag: 'internal-error', val: code ? `${code}: ${message}` : message };
  }
}

function timeoutError(code, message) {
  const error = new Error(message);
  error.code = code;
  return error;
}

/**
 * `error` for a response body stream: its message starts with its code, which is what
 * http-types.js's `httpErrorCode` reads back through wasi:io's `to-debug-string`.
 */
function codedError(error, fallbackCode = 'ERR_METALD_RESET') {
  const code = error?.code ?? fallbackCode;
  const message = error?.message ?? String(error);
  if (message.startsWith(`${code}: `)) return error;
  const coded = new Error(`${code}: ${message}`);
  coded.code = code;
  return coded;
}

/**
 * Hands a response body (an HTTP/2 stream or an HTTP/1.1 response) to the component as a
 * readable stream and returns its id. Every `data` event re-arms the between-bytes timer,
 * which on expiry fails the body and calls `abort`; a source that closes before
 * `complete()` fails the body with `cutShort()`; the component dropping the body early
 * calls `cancel` (default `abort`).
 */
function responseBody(context, responses, source, { betweenBytesMs, armNow, complete, abort, cutShort, cancel = abort }) {
  const out = new PassThrough();
  out.on('error', noop);
  let betweenBytesTimer = null;
  const arm = () => {
    if (betweenBytesMs === null) return;
    clearTimeout(betweenBytesTimer);
    betweenBytesTimer = setTimeout(() => {
      out.destroy(codedError(timeoutError('ERR_METALD_BETWEEN_BYTES_TIMEOUT', `no response data for ${betweenBytesMs} ms`)));
      abort();
    }, betweenBytesMs);
  };
  if (armNow) arm();
  source.on('data', arm);
  source.pipe(out);
  source.once('end', () => clearTimeout(betweenBytesTimer));
  source.on('error', (error) => {
    clearTimeout(betweenBytesTimer);
    out.destroy(codedError(error));
  });
  source.once('close', () => {
    clearTimeout(betweenBytesTimer);
    if (!complete() && !out.destroyed) out.destroy(codedError(cutShort()));
  });
  const bodyStreamId = context.createReadableStream(out);
  responses.set(bodyStreamId, () => {
    clearTimeout(betweenBytesTimer);
    if (!complete()) cancel();
    out.destroy();
  });
  out.once('close', () => responses.delete(bodyStreamId));
  return bodyStreamId;
}

/** A request body: counts what the component writes, for the content-length check. */
function bodyStream(contentLength) {
  const stream = new Transform({
    transform(chunk, _encoding, done) {
      stream.written += chunk.length;
      done(null, chunk);
    },
  });
  stream.written = 0;
  stream.contentLength = typeof contentLength === 'number' ? contentLength : null;
  return stream;
}

/** A positive duration in ns (bigint) as ms, or null for none. */
function toMs(ns) {
  if (ns === undefined || ns === null) return null;
  const ms = Number(BigInt(ns) / NS_PER_MS);
  return Math.max(1, Math.min(ms, 2 ** 31 - 1));
}

/** Pooled connections idle this long are closed (as the Rust host's pool does). */
const IDLE_TIMEOUT_MS = 90000;

// ---------------------------------------------------------------------------------------
// Credentials: what a new connection presents and trusts, and the pool key of that.

/**
 * The identity a new TLS connection uses: `{ key, options, spiffeId, serial }`, where `key`
 * changes whenever the client certificate or the trusted CAs change, and `options` are
 * `tls.connect` options (cert, key, ca, checkServerIdentity).
 */
function identityOf({ cert, key, ca, passphrase }, check, { spiffeId = null, serial = null } = {}) {
  const options = { checkServerIdentity: check };
  if (cert !== undefined) options.cert = cert;
  if (key !== undefined) options.key = key;
  if (passphrase !== undefined) options.passphrase = passphrase;
  if (ca !== undefined) options.ca = ca;
  const trust = digestOf(ca ?? '');
  return { key: `id:${digestOf(cert ?? '')}|trust:${trust}`, options, spiffeId, serial, trust };
}

/** No client certificate; Node's default roots. */
function noCredentials() {
  const identity = { key: 'none', options: {}, spiffeId: null, serial: null };
  return { identity: () => identity, close: noop };
}

/** In-memory PEM (checked on the main thread by transport.js's normalizeTls). */
function memoryCredentials(config) {
  const material = checkMaterial(config, MEMORY_NAMES);
  const check = makeCheckServerIdentity({ serverSpiffeId: config.serverSpiffeId, trustDomain: material.trustDomain });
  const identity = identityOf(material, check, { serial: material.serial });
  return { identity: () => identity, close: noop };
}

/**
 * Certificate, key and CA files, re-read every `reloadIntervalMs` (0: never) when a new
 * connection is made. A renewal that fails its checks is not applied: the loaded material
 * stays in use and the problem is logged (to stderr), as the Rust host does.
 */
function fileCredentials(config) {
  const load = () => {
    const material = loadMaterialFiles(config);
    const check = makeCheckServerIdentity({ serverSpiffeId: config.serverSpiffeId, trustDomain: material.trustDomain });
    return identityOf(material, check, { serial: material.serial });
  };
  let current = load();
  let loadedAt = Date.now();
  const interval = config.reloadIntervalMs ?? 0;
  return {
    identity() {
      if (interval > 0 && Date.now() - loadedAt >= interval) {
        loadedAt = Date.now();
        try {
          current = load();
        } catch (error) {
          console.error(`metald: reloading the TLS files failed; keeping the loaded certificate: ${error.message}`);
        }
      }
      return current;
    },
    close: noop,
  };
}

/**
 * SPIFFE mode: the current X.509-SVID (the first offered, or the one with `spiffeId`) and the
 * bundles from the Workload API. Every server certificate is checked as an X509-SVID and
 * authorized as a member of our trust domain or exactly `serverSpiffeId`.
 */
async function spiffeCredentials(config) {
  const source = await X509Source.open(config);
  const select = (material) => {
    try {
      return selectSvid(material.svids, config.spiffeId);
    } catch (error) {
      throw new SpiffeError(source.endpoint, error.message);
    }
  };
  let cached = null;
  const build = (material) => {
    const svid = select(material);
    const trustDomain = parseSpiffeId(svid.spiffeId).trustDomain;
    const check = makeCheckServerIdentity({ serverSpiffeId: config.serverSpiffeId, trustDomain, spiffeOnly: true });
    // Every trust domain's CAs (ours and federated ones); authorization then decides by ID.
    const domains = [...material.bundles.keys()].sort();
    const ca = domains.flatMap((domain) => material.bundles.get(domain));
    return identityOf({ cert: svid.cert, key: svid.key, ca }, check, { spiffeId: svid.spiffeId, serial: svid.serial });
  };
  try {
    cached = { material: source.current(), identity: build(source.current()) };
  } catch (error) {
    source.close();
    if (error instanceof SpiffeError) error.code = 'ERR_METALD_SPIFFE_SVID';
    throw error;
  }
  return {
    identity() {
      const material = source.current();
      if (material !== cached.material) cached = { material, identity: build(material) };
      return cached.identity;
    },
    close: () => source.close(),
  };
}

async function credentialsFor(tlsConfig) {
  switch (tlsConfig?.mode) {
    case undefined:
      return noCredentials();
    case 'memory':
      return memoryCredentials(tlsConfig);
    case 'files':
      return fileCredentials(tlsConfig);
    case 'spiffe':
      return spiffeCredentials(tlsConfig);
    default:
      throw new TypeError(`unknown TLS mode ${tlsConfig.mode}`);
  }
}

// ---------------------------------------------------------------------------------------
// Connections

async function makeTransport(config) {
  const credentials = await credentialsFor(config.tls);
  return {
    credentials,
    http2: config.http2 !== false,
    h2c: Boolean(config.h2c),
    // `timeout` is the idle timeout of pooled sockets; requests in flight use our own timers.
    http: new http.Agent({ keepAlive: true, timeout: IDLE_TIMEOUT_MS }),
    /** origin -> { key, kind: 'h2' | 'h1' | 'pending', session | agent | promise } */
    pools: new Map(),
    counts: { h2: 0, 'http/1.1': 0 },
  };
}

/** Stops using a pool entry for new requests; its requests in flight finish. */
function retire(entry) {
  if (entry.kind === 'h2') {
    if (!entry.session.closed && !entry.session.destroyed) entry.session.close();
  } else if (entry.kind === 'h1') {
    // Sockets freed from now on are closed instead of kept.
    entry.agent.keepAlive = false;
    for (const sockets of Object.values(entry.agent.freeSockets)) for (const socket of sockets) socket.destroy();
  }
}

function destroyEntry(entry) {
  if (entry.kind === 'h2') entry.session.destroy();
  else if (entry.kind === 'h1') entry.agent.destroy();
}

/** Keeps an h2 session's pool entry only while the session is usable. */
function trackSession(transport, origin, entry) {
  const drop = () => {
    if (transport.pools.get(origin) === entry) transport.pools.delete(origin);
  };
  entry.session.on('error', noop);
  entry.session.once('close', drop);
  entry.session.once('goaway', drop);
  // Idle sessions close like idle pooled sockets.
  entry.session.setTimeout(IDLE_TIMEOUT_MS, () => entry.session.close());
}

const usable = (entry) => entry.kind !== 'h2' || (!entry.session.closed && !entry.session.destroyed);

/**
 * The pool entry for a request to `origin` with `identity`: an existing one, or a new
 * connection. For https the TLS handshake decides the protocol (ALPN); a new entry comes with
 * the socket of that handshake (`firstSocket`) when it is HTTP/1.1.
 * @returns {Promise<{ entry, firstSocket?: import('node:tls').TLSSocket }>}
 */
function connectionFor(transport, req, origin, identity, connectMs) {
  const key = identity.key;
  const existing = transport.pools.get(origin);
  if (existing && existing.key === key && usable(existing)) {
    if (existing.kind === 'pending') return existing.promise.then(() => connectionFor(transport, req, origin, identity, connectMs));
    return Promise.resolve({ entry: existing, reused: true });
  }
  if (existing) {
    transport.pools.delete(origin);
    retire(existing);
  }
  const isHttps = req.scheme === 'https';
  const host = req.host.startsWith('[') ? req.host.slice(1, -1) : req.host;
  const port = req.port ?? (isHttps ? 443 : 80);
  if (!isHttps && !transport.h2c) {
    return Promise.resolve({ entry: { key, kind: 'h1', agent: transport.http, shared: true } });
  }
  const pending = { key, kind: 'pending' };
  const promise = new Promise((resolve, reject) => {
    let socket;
    let timer = null;
    const fail = (error) => {
      clearTimeout(timer);
      if (transport.pools.get(origin) === pending) transport.pools.delete(origin);
      socket?.destroy();
      reject(error);
    };
    if (connectMs !== null) {
      timer = setTimeout(
        () => fail(timeoutError('ERR_METALD_CONNECT_TIMEOUT', `connect timed out after ${connectMs} ms`)),
        connectMs,
      );
    }
    const ready = (entry, extra = {}) => {
      clearTimeout(timer);
      socket.off('error', fail);
      if (entry.kind === 'h2') trackSession(transport, origin, entry);
      if (transport.pools.get(origin) === pending) transport.pools.set(origin, entry);
      else retire(entry);
      resolve({ entry, ...extra });
    };
    try {
      if (isHttps) {
        socket = tls.connect({
          host,
          port,
          // SNI only for names (RFC 6066 section 3 forbids IP literals).
          servername: net.isIP(host) ? undefined : host,
          ALPNProtocols: transport.http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
          minVersion: 'TLSv1.2',
          ...identity.options,
        });
      } else {
        socket = net.connect({ host, port });
      }
    } catch (error) {
      fail(error);
      return;
    }
    socket.on('error', fail);
    socket.once(isHttps ? 'secureConnect' : 'connect', () => {
      const h2 = isHttps ? socket.alpnProtocol === 'h2' : true;
      if (h2) {
        const session = http2.connect(`${req.scheme}://${req.host}:${port}`, { createConnection: () => socket });
        ready({ key, kind: 'h2', session });
      } else {
        const agent = new https.Agent({
          keepAlive: true,
          timeout: IDLE_TIMEOUT_MS,
          minVersion: 'TLSv1.2',
          ALPNProtocols: ['http/1.1'],
          ...identity.options,
        });
        ready({ key, kind: 'h1', agent }, { firstSocket: socket });
      }
    });
  });
  pending.promise = promise.catch(noop);
  transport.pools.set(origin, pending);
  return promise;
}

/**
 * Starts one request; resolves to the response head, rejects with a wasi:http error-code.
 *
 * A request is never replayed: the component promises that writes are never retried (a
 * failed write reports `outcome-unknown`), and it retries reads itself.
 */
function send(context, transport, responses, bodies, req) {
  // The body stream (body-open) is written by the component, before or after `handle`, and
  // ended by `OutgoingBody.finish` (body-finish).
  const body = bodies.get(req.bodyId) ?? null;
  if (body === null) return Promise.reject({ tag: 'internal-error', val: 'the request body stream is gone' });
  const connectMs = toMs(req.connectTimeout);
  let identity;
  try {
    identity = req.scheme === 'https' ? transport.credentials.identity() : { key: 'plain' };
  } catch (error) {
    return Promise.reject(errorCodeOf(error));
  }
  const origin = `${req.scheme}://${req.host}:${req.port ?? (req.scheme === 'https' ? 443 : 80)}`;
  const started = Date.now();
  return connectionFor(transport, req, origin, identity, connectMs).then(
    ({ entry, firstSocket }) => {
      // What is left of the connect timeout covers an HTTP/1.1 agent's own connect.
      const left = connectMs === null ? null : Math.max(1, connectMs - (Date.now() - started));
      if (entry.kind === 'h2') {
        transport.counts.h2 += 1;
        return sendH2(context, entry.session, responses, req, body);
      }
      transport.counts['http/1.1'] += 1;
      return sendH1(context, entry.agent, responses, { ...req, connectMs: left, firstSocket }, body);
    },
    (error) => Promise.reject(errorCodeOf(error)),
  );
}

/** Forbidden in HTTP/2 (RFC 9113 section 8.2.2), or set from the pseudo-headers. */
const H2_SKIPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te']);

function sendH2(context, session, responses, req, body) {
  const firstByteMs = toMs(req.firstByteTimeout);
  const betweenBytesMs = toMs(req.betweenBytesTimeout);
  return new Promise((resolve, reject) => {
    let settled = false;
    let firstByteTimer = null;
    let stream;
    const fail = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(firstByteTimer);
      reject(errorCodeOf(error));
    };
    const headers = {
      ':method': req.method,
      ':scheme': req.scheme,
      ':authority': req.port ? `${req.host}:${req.port}` : req.host,
      ':path': req.pathWithQuery,
    };
    for (const [name, value] of req.headers) {
      const lower = name.toLowerCase();
      if (H2_SKIPPED.has(lower)) continue;
      if (headers[lower] === undefined) headers[lower] = value;
      else headers[lower] = [headers[lower], value].flat();
    }
    try {
      stream = session.request(headers, { endStream: !body });
    } catch (error) {
      fail(error);
      return;
    }
    // RST_STREAM(REFUSED_STREAM): the server did not process it (RFC 9113 section 8.7).
    const refused = () => stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
    stream.on('error', (error) => {
      if (settled) return;
      fail(refused() ? timeoutError('ERR_METALD_REFUSED_STREAM', 'the server refused the stream') : error);
    });
    stream.on('close', () => {
      if (settled) return;
      if (refused()) {
        fail(timeoutError('ERR_METALD_REFUSED_STREAM', 'the server refused the stream'));
      } else {
        fail(timeoutError('ERR_METALD_CLOSED', `stream closed before a response (code ${stream.rstCode})`));
      }
    });
    if (firstByteMs !== null) {
      firstByteTimer = setTimeout(() => {
        const error = timeoutError('ERR_METALD_FIRST_BYTE_TIMEOUT', `no response within ${firstByteMs} ms`);
        fail(error);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, firstByteMs);
    }
    stream.on('response', (head) => {
      if (settled) return;
      settled = true;
      clearTimeout(firstByteTimer);
      const bodyStreamId = responseBody(context, responses, stream, {
        betweenBytesMs,
        armNow: true,
        complete: () => stream.readableEnded,
        abort: () => stream.close(http2.constants.NGHTTP2_CANCEL),
        cutShort: () => timeoutError('ERR_METALD_RESET', `stream reset (code ${stream.rstCode})`),
      });
      const pairs = [];
      for (const [name, value] of Object.entries(head)) {
        if (name.startsWith(':')) continue;
        for (const v of [value].flat()) pairs.push([name, String(v)]);
      }
      resolve({ status: Number(head[':status']), headers: pairs, bodyStreamId });
    });
    if (body) {
      body.on('error', (error) => stream.destroy(error));
      body.pipe(stream);
    }
  });
}

function sendH1(context, agent, responses, req, body) {
  const { method, scheme, host, port, pathWithQuery, headers, connectMs, firstSocket } = req;
  const firstByteMs = toMs(req.firstByteTimeout);
  const betweenBytesMs = toMs(req.betweenBytesTimeout);
  const isHttps = scheme === 'https';

  return new Promise((resolve, reject) => {
    let settled = false;
    let connectTimer = null;
    let firstByteTimer = null;
    const clearTimers = () => {
      clearTimeout(connectTimer);
      clearTimeout(firstByteTimer);
    };
    const fail = (error) => {
      if (settled) return;
      settled = true;
      clearTimers();
      reject(errorCodeOf(error));
    };

    let request;
    try {
      const options = {
        method,
        hostname: host.startsWith('[') ? host.slice(1, -1) : host,
        port: port ?? (isHttps ? 443 : 80),
        path: pathWithQuery,
        // Host is set by node from hostname:port; wasi:http forbids the component's own.
        setHost: true,
      };
      // The socket of the handshake that chose HTTP/1.1 carries this one request.
      if (firstSocket) options.createConnection = () => firstSocket;
      else options.agent = agent;
      request = (isHttps ? https : http).request(options);
    } catch (error) {
      fail(error);
      return;
    }
    request.on('error', (error) => {
      if (!settled) {
        fail(error);
      } else {
        // After the response head, failures reach the body stream through the response.
        request.res?.destroy(error);
      }
    });
    request.on('close', () => {
      fail(timeoutError('ERR_METALD_CLOSED', 'connection closed before a response'));
    });

    const startFirstByteTimer = () => {
      if (firstByteMs !== null && !settled && firstByteTimer === null) {
        firstByteTimer = setTimeout(() => {
          const error = timeoutError('ERR_METALD_FIRST_BYTE_TIMEOUT', `no response within ${firstByteMs} ms`);
          fail(error);
          request.destroy(error);
        }, firstByteMs);
      }
    };
    request.on('socket', (socket) => {
      if (!guardedSockets.has(socket)) {
        guardedSockets.add(socket);
        socket.on('error', noop);
      }
      // An established connection (pooled, or the handshake's): only the response wait is left.
      if (request.reusedSocket || firstSocket) {
        startFirstByteTimer();
        return;
      }
      if (connectMs !== null) {
        connectTimer = setTimeout(() => {
          const error = timeoutError('ERR_METALD_CONNECT_TIMEOUT', `connect timed out after ${connectMs} ms`);
          fail(error);
          request.destroy(error);
        }, connectMs);
      }
      socket.once(isHttps ? 'secureConnect' : 'connect', () => {
        clearTimeout(connectTimer);
        startFirstByteTimer();
      });
    });

    request.on('response', (response) => {
      if (settled) {
        response.destroy();
        return;
      }
      settled = true;
      clearTimers();
      const bodyStreamId = responseBody(context, responses, response, {
        betweenBytesMs,
        armNow: !response.complete,
        complete: () => response.complete,
        abort: () => request.destroy(),
        cutShort: () => timeoutError('ECONNRESET', 'the connection closed before the end of the response'),
        cancel: () => response.destroy(),
      });
      const raw = response.rawHeaders;
      const pairs = [];
      for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i], raw[i + 1]]);
      resolve({ status: response.statusCode, headers: pairs, bodyStreamId });
    });

    try {
      for (const [name, value] of headers) request.appendHeader(name, value);
      request.flushHeaders();
      if (body) {
        body.on('error', (error) => request.destroy(error));
        body.pipe(request);
      } else {
        request.end();
      }
    } catch (error) {
      fail(error);
      request.destroy();
    }
  });
}

function closeTransport(transport) {
  transport.http.destroy();
  for (const entry of transport.pools.values()) {
    if (!entry.shared) destroyEntry(entry);
  }
  transport.pools.clear();
  transport.credentials.close();
}

/** @type {import('@bytecodealliance/preview2-shim/io-worker').WorkerExtension} */
export default function create(context) {
  const transports = new Map();
  const responses = new Map();
  /** Request body streams by their id in the shim's stream table. */
  const bodies = new Map();
  let nextId = 0;
  return async function metaldHttp(operation, args) {
    switch (operation) {
      case 'open': {
        const transport = await makeTransport(args[0]);
        const id = ++nextId;
        transports.set(id, transport);
        return id;
      }
      case 'request': {
        const transport = transports.get(args[0]);
        let promise;
        try {
          promise = transport
            ? send(context, transport, responses, bodies, args[1])
            : Promise.reject({ tag: 'internal-error', val: 'the transport is closed' });
        } catch (error) {
          promise = Promise.reject(errorCodeOf(error));
        }
        return context.createFuture(promise);
      }
      case 'body-open': {
        const stream = bodyStream(args[0]);
        const id = context.createWritableStream(stream);
        bodies.set(id, stream);
        // Kept until finished or aborted: dropping the component's output stream ends it (the
        // shim's wasi:io dispose) before `finish` comes. A failed one is gone at once.
        stream.once('error', () => bodies.delete(id));
        return id;
      }
      case 'body-finish': {
        const stream = bodies.get(args[0]);
        if (!stream) throw { tag: 'internal-error', val: 'the request body stream is gone (finished twice, or failed)' };
        // Bytes through the transform plus bytes still queued in front of it.
        const written = stream.written + stream.writableLength;
        if (stream.contentLength !== null && written !== stream.contentLength) {
          const error = { tag: 'HTTP-request-body-size', val: BigInt(written) };
          stream.destroy(timeoutError('ERR_METALD_BODY_SIZE', `body of ${written} bytes, content-length ${stream.contentLength}`));
          throw error;
        }
        bodies.delete(args[0]);
        if (!stream.writableEnded) stream.end();
        return undefined;
      }
      case 'body-abort': {
        const stream = bodies.get(args[0]);
        bodies.delete(args[0]);
        stream?.destroy(timeoutError('ERR_METALD_BODY_ABORTED', 'the request body was dropped unfinished'));
        return undefined;
      }
      case 'release': {
        const release = responses.get(args[0]);
        responses.delete(args[0]);
        release?.();
        return undefined;
      }
      case 'info': {
        const transport = transports.get(args[0]);
        if (!transport) return null;
        const identity = safeIdentity(transport);
        return {
          requests: { ...transport.counts },
          identity:
            identity && identity.key !== 'none'
              ? { spiffeId: identity.spiffeId, serial: identity.serial, trust: identity.trust }
              : null,
        };
      }
      case 'close': {
        const transport = transports.get(args[0]);
        if (transport) {
          transports.delete(args[0]);
          closeTransport(transport);
        }
        return undefined;
      }
      default:
        throw new Error(`metald worker extension: unknown operation ${operation}`);
    }
  };
}

function safeIdentity(transport) {
  try {
    return transport.credentials.identity();
  } catch {
    return null;
  }
}
