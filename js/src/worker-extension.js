// The half of our wasi:http outgoing-handler that runs inside preview2-shim's I/O worker
// thread, loaded there through the shim's public worker-extension hook
// (`callExtension` of `@bytecodealliance/preview2-shim/io-worker`). The main thread blocks
// (Atomics.wait) while the worker runs each call, exactly as for the shim's own I/O, so the
// component keeps its synchronous calling convention.
//
// Operations:
//   open(config) -> transportId      agents with the transport's TLS settings
//   request(transportId, req) -> futureId   starts one request; the future resolves to
//                                     { status, headers, bodyStreamId } or rejects with a
//                                     wasi:http error-code ({ tag, val })
//   release(bodyStreamId)            drops a response the component stopped reading
//   close(transportId)               destroys the transport's pooled connections
//
// Nothing here may throw asynchronously: the shim's worker treats any uncaught exception as
// fatal for every later call.

import http from 'node:http';
import https from 'node:https';

import { makeCheckServerIdentity } from './tls-policy.js';

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
]);

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
    case 'HPE_HEADER_OVERFLOW':
      return { tag: 'HTTP-response-header-section-size', val: undefined };
    default:
      if (code.startsWith('HPE_')) return { tag: 'HTTP-protocol-error' };
      return { tag: 'internal-error', val: code ? `${code}: ${message}` : message };
  }
}

function timeoutError(code, message) {
  const error = new Error(message);
  error.code = code;
  return error;
}

/** A positive duration in ns (bigint) as ms, or null for none. */
function toMs(ns) {
  if (ns === undefined || ns === null) return null;
  const ms = Number(BigInt(ns) / NS_PER_MS);
  return Math.max(1, Math.min(ms, 2 ** 31 - 1));
}

/** Pooled connections idle this long are closed (as the Rust host's pool does). */
const IDLE_TIMEOUT_MS = 90000;

function makeTransport(config) {
  // `timeout` is the idle timeout of pooled sockets; requests in flight use our own timers.
  const agentOptions = { keepAlive: true, timeout: IDLE_TIMEOUT_MS };
  const tlsOptions = {};
  if (config.tls) {
    const { cert, key, ca, passphrase, serverSpiffeId, trustDomain } = config.tls;
    if (cert !== undefined) tlsOptions.cert = cert;
    if (key !== undefined) tlsOptions.key = key;
    if (passphrase !== undefined) tlsOptions.passphrase = passphrase;
    if (ca !== undefined) tlsOptions.ca = ca;
    tlsOptions.checkServerIdentity = makeCheckServerIdentity({ serverSpiffeId, trustDomain });
  }
  return {
    http: new http.Agent(agentOptions),
    https: new https.Agent({ ...agentOptions, ...tlsOptions, minVersion: 'TLSv1.2' }),
  };
}

/**
 * Starts one request; resolves to the response head, rejects with a wasi:http error-code.
 *
 * A request is never replayed: the component promises that writes are never retried (a
 * failed write reports `outcome-unknown`), and it retries reads itself.
 */
function send(context, transport, responses, req) {
  const { method, scheme, host, port, pathWithQuery, headers, bodyId } = req;
  const connectMs = toMs(req.connectTimeout);
  const firstByteMs = toMs(req.firstByteTimeout);
  const betweenBytesMs = toMs(req.betweenBytesTimeout);
  const isHttps = scheme === 'https';
  // The body stream was created by the shim when the component made the request; the
  // component writes it after `handle` returns, and `OutgoingBody.finish` ends it.
  let body = null;
  try {
    body = bodyId ? context.getStream(bodyId) : null;
  } catch (error) {
    return Promise.reject({ tag: 'internal-error', val: `request body stream unavailable: ${error?.message ?? error?.tag ?? error}` });
  }

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
      request = (isHttps ? https : http).request({
        agent: isHttps ? transport.https : transport.http,
        method,
        hostname: host.startsWith('[') ? host.slice(1, -1) : host,
        port: port ?? (isHttps ? 443 : 80),
        path: pathWithQuery,
        // Host is set by node from hostname:port; wasi:http forbids the component's own.
        setHost: true,
      });
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
      // A pooled connection is already established: only the response wait is left.
      if (request.reusedSocket) {
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
      response.on('error', noop);
      let betweenBytesTimer = null;
      const socket = response.socket;
      const arm = () => {
        clearTimeout(betweenBytesTimer);
        betweenBytesTimer = setTimeout(() => {
          response.destroy(
            timeoutError('ERR_METALD_BETWEEN_BYTES_TIMEOUT', `no response data for ${betweenBytesMs} ms`),
          );
          request.destroy();
        }, betweenBytesMs);
      };
      const done = () => {
        clearTimeout(betweenBytesTimer);
        socket?.off('data', arm);
      };
      if (betweenBytesMs !== null && !response.complete) {
        arm();
        socket?.on('data', arm);
      }
      response.once('end', done);
      response.once('close', done);
      const bodyStreamId = context.createReadableStream(response);
      responses.set(bodyStreamId, response);
      response.once('close', () => responses.delete(bodyStreamId));
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

/** @type {import('@bytecodealliance/preview2-shim/io-worker').WorkerExtension} */
export default function create(context) {
  const transports = new Map();
  const responses = new Map();
  let nextId = 0;
  return function metaldHttp(operation, args) {
    switch (operation) {
      case 'open': {
        const id = ++nextId;
        transports.set(id, makeTransport(args[0]));
        return id;
      }
      case 'request': {
        const transport = transports.get(args[0]);
        let promise;
        try {
          promise = transport
            ? send(context, transport, responses, args[1])
            : Promise.reject({ tag: 'internal-error', val: 'the transport is closed' });
        } catch (error) {
          promise = Promise.reject(errorCodeOf(error));
        }
        return context.createFuture(promise);
      }
      case 'release': {
        const response = responses.get(args[0]);
        if (response && !response.complete) response.destroy();
        responses.delete(args[0]);
        return undefined;
      }
      case 'close': {
        const transport = transports.get(args[0]);
        if (transport) {
          transport.http.destroy();
          transport.https.destroy();
          transports.delete(args[0]);
        }
        return undefined;
      }
      default:
        throw new Error(`metald worker extension: unknown operation ${operation}`);
    }
  };
}
