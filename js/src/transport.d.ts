import type * as WasiHttpTypes from '../generated/interfaces/wasi-http-types.js';
import type * as WasiHttpOutgoingHandler from '../generated/interfaces/wasi-http-outgoing-handler.js';
import type { AllowList } from './allow.js';

/** PEM text or bytes. */
export type Pem = string | Uint8Array;

export interface TlsOptions {
  /** Client certificate chain (PEM), presented to the server. Needs `key`. */
  cert?: Pem;
  /** Private key of `cert` (PEM). */
  key?: Pem;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
  /** CA bundle trusted for the server; Node's default roots when absent. */
  ca?: Pem | Pem[];
  /**
   * The only SPIFFE ID accepted for a server whose certificate carries only a SPIFFE URI
   * SAN. Without it, such a server must be in the trust domain of `cert`'s SPIFFE ID.
   */
  serverSpiffeId?: string;
}

export interface Transport {
  /** `wasi:http/outgoing-handler`. */
  outgoingHandler: typeof WasiHttpOutgoingHandler;
  /** `wasi:http/types`: preview2-shim's, with this package's request/response classes. */
  types: typeof WasiHttpTypes;
  allow: AllowList;
  /** Requests handled and requests denied by the allow-list. */
  stats: { requests: number; denied: number };
  close(): void;
}

export const types: typeof WasiHttpTypes;

/** Checks TLS options and derives our SPIFFE trust domain; throws a TypeError naming the bad option. */
export function normalizeTls(tls: TlsOptions): TlsOptions & { trustDomain: string | null };

export function createTransport(options?: { allow?: Array<string> | AllowList; tls?: TlsOptions }): Transport;
