import type * as WasiHttpTypes from '../generated/interfaces/wasi-http-types.js';
import type * as WasiHttpOutgoingHandler from '../generated/interfaces/wasi-http-outgoing-handler.js';
import type { AllowList } from './allow.js';

/** PEM text or bytes. */
export type Pem = string | Uint8Array;

/**
 * Client certificate and server verification. Give the material in one of three ways:
 * PEM (`cert`, `key`, `ca`), files re-read when renewed (`certFile`, `keyFile`, `caFile`),
 * or the SPIFFE Workload API (`spiffe`). Checked when the transport is made; problems throw a
 * TypeError naming the option (and the file).
 */
export interface TlsOptions {
  /** Client certificate chain (PEM), presented to the server. Needs `key`. */
  cert?: Pem;
  /** Private key of `cert` (PEM). */
  key?: Pem;
  /** Passphrase of an encrypted `key` or `keyFile`. */
  passphrase?: string;
  /** CA bundle trusted for the server; Node's default roots when absent. */
  ca?: Pem | Pem[];
  /** Client certificate chain file (PEM), read now and re-read every `reloadIntervalMs`. Needs `keyFile`. */
  certFile?: string;
  /** Private key file of `certFile` (PEM). */
  keyFile?: string;
  /** CA bundle file (PEM) trusted for the server; Node's default roots when absent. */
  caFile?: string;
  /**
   * Re-read `certFile`, `keyFile` and `caFile` when a new connection is made at least this
   * long after the last read (default 0: never). New material means new connections; a
   * renewal that fails its checks is not applied (logged to stderr).
   */
  reloadIntervalMs?: number;
  /**
   * SPIFFE mode: the X.509-SVID and trust bundles come from the SPIFFE Workload API, kept
   * current by its stream (rotation). `true` for the defaults.
   */
  spiffe?: true | SpiffeOptions;
  /**
   * The only SPIFFE ID accepted for the server. Without it: in SPIFFE mode, any server in our
   * SVID's trust domain; otherwise a server whose certificate carries only a SPIFFE URI SAN
   * must be in the trust domain of `cert`'s SPIFFE ID.
   */
  serverSpiffeId?: string;
}

export interface SpiffeOptions {
  /**
   * The Workload API socket: a path, `unix:PATH` or `unix://PATH`. Default:
   * `UNKEY_METALD_SPIFFE_SOCKET`, else `SPIFFE_ENDPOINT_SOCKET`, else
   * `/var/lib/spire/agent/agent.sock`.
   */
  socket?: string;
  /** How long to wait for the first X.509-SVID, in ms (default 10000). */
  timeoutMs?: number;
  /**
   * Present the SVID with this SPIFFE ID when the workload has several (default: the first
   * offered). An ID not offered is an error naming it and the offered ones.
   */
  spiffeId?: string;
}

/** What the transport has done and presents now. */
export interface TransportInfo {
  /** Requests sent per protocol. */
  requests: { h2: number; 'http/1.1': number };
  /**
   * What new TLS connections present and trust: the client certificate's SPIFFE ID and hex
   * serial, and `trust`, a digest of the CA certificates (it changes with the bundle); null
   * without TLS settings.
   */
  identity: { spiffeId: string | null; serial: string | null; trust: string } | null;
}

export interface Transport {
  /** `wasi:http/outgoing-handler`. */
  outgoingHandler: typeof WasiHttpOutgoingHandler;
  /**
   * `wasi:http/types`, client side: this package's own classes (fields, request options,
   * outgoing request and body, incoming response and body, futures), built on
   * preview2-shim's public io-worker API; none of the shim's wasi:http classes.
   */
  types: typeof WasiHttpTypes;
  allow: AllowList;
  /** Requests handled and requests denied by the allow-list. */
  stats: { requests: number; denied: number };
  /** Requests per protocol and the current client identity; null once closed. */
  info(): TransportInfo | null;
  /** Closes pooled connections and the Workload API stream; later requests fail. */
  close(): void;
}

export const types: typeof WasiHttpTypes;

/** Checks TLS options and derives the I/O worker's settings; throws a TypeError naming the bad option. */
export function normalizeTls(tls: TlsOptions): { mode: 'memory' | 'files' | 'spiffe' } & Record<string, unknown>;

/** The preview2-shim version and shapes this transport relies on. */
export const SHIM_CONTRACT: {
  readonly version: string;
  readonly ioWorker: readonly string[];
  readonly extensionContext: readonly string[];
};

export interface TransportOptions {
  /** Destinations the component may reach; everything else gets `HTTP-request-denied`. */
  allow?: Array<string> | AllowList;
  tls?: TlsOptions;
  /** Offer HTTP/2 by ALPN over TLS (default true); HTTP/1.1 when the server does not select it. */
  http2?: boolean;
  /** HTTP/2 with prior knowledge for http:// servers (default false). */
  h2c?: boolean;
}

/** Throws a SpiffeError in SPIFFE mode when the Workload API gives no usable identity in time. */
export function createTransport(options?: TransportOptions): Transport;
