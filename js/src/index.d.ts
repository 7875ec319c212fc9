// Types of @metald/client. The component's own types come from the declarations jco
// generates into ../generated/ (run `npm run build`).

import type { Root } from '../generated/metald.js';
import type { Client } from '../generated/interfaces/metald-client-client.js';
import type { VmConfigBuilder } from '../generated/interfaces/metald-client-builder.js';
import type * as Templates from '../generated/interfaces/metald-client-templates.js';
import type * as Validation from '../generated/interfaces/metald-client-validation.js';
import type * as ConfigFile from '../generated/interfaces/metald-client-config-file.js';
import type * as Codec from '../generated/interfaces/metald-client-codec.js';
import type {
  ClientOptions,
  Codec as WireCodec,
  Compression,
  ConnectError,
  Error as MetaldErrorVariant,
  ErrorCode,
  ErrorDetail,
  TransportError,
  ValidationIssue,
} from '../generated/interfaces/metald-client-types.js';
import type { SpiffeOptions, Transport, TransportInfo, TransportOptions, TlsOptions } from './transport.js';

// jco's types, except that open enums (`VmState`, `NetworkMode`) and every type holding one
// (`VmInfo`, `VmConfig`, ...) are declared as this package hands them over: the case name, or
// the protobuf number of a value this SDK does not know (protobuf enums are open; the WIT
// variant's `unknown(n)`), instead of jco's `{ tag, val }`. On input a known number (`2`)
// means its case. Generated from the WIT (generated-types.d.ts).
export type * from './generated-types.js';

/** The known cases of `vm-state`, in protobuf-number order. */
export const VM_STATES: readonly ['unspecified', 'created', 'running', 'paused', 'shutdown'];
/** The known cases of `network-mode`, in protobuf-number order. */
export const NETWORK_MODES: readonly ['unspecified', 'dual-stack', 'ipv4-only', 'ipv6-only'];
export type { Client, VmConfigBuilder, Root as MetaldExports };
export type { Template } from '../generated/interfaces/metald-client-templates.js';
export { AllowList, parseAllowedHost } from './allow.js';
export { createTransport } from './transport.js';
export { parseSpiffeId } from './tls-policy.js';
export type { SpiffeOptions, Transport, TransportInfo, TransportOptions, TlsOptions };

/**
 * The Workload API endpoint of a socket setting as SPIFFE mode resolves it: the setting, else
 * `UNKEY_METALD_SPIFFE_SOCKET`, else `SPIFFE_ENDPOINT_SOCKET`, else
 * `/var/lib/spire/agent/agent.sock`; `unix:PATH`, `unix://PATH` or a path.
 */
export function resolveSpiffeSocket(
  socket?: string,
  env?: Record<string, string | undefined>,
): { endpoint: string; path: string | null };

/**
 * Thrown by `createMetald`/`createTransport` in SPIFFE mode when the Workload API gives no
 * usable identity: `code` is `ERR_METALD_SPIFFE_NO_SOCKET` (the socket does not exist),
 * `ERR_METALD_SPIFFE_SVID` (the SVID asked for by `tls.spiffe.spiffeId` is not offered) or
 * `ERR_METALD_SPIFFE` (an error from the Workload API, or no SVID within the timeout); the
 * message names the socket and the cause. Crossing from the I/O worker, it arrives as an
 * `Error` with these `name`, `code` and `endpoint` properties (test `error.code`).
 */
export interface SpiffeError extends globalThis.Error {
  name: 'SpiffeError';
  code: 'ERR_METALD_SPIFFE' | 'ERR_METALD_SPIFFE_NO_SOCKET' | 'ERR_METALD_SPIFFE_SVID';
  endpoint: string;
}

export interface MetaldOptions {
  /** Base URL of metald: `http://host:port` or `https://host:port` (a path prefix is kept). */
  server: string;
  /** User id (`[A-Za-z0-9._-]+`), sent as `Authorization: Bearer dev_user_<userId>`. */
  userId: string;
  /** Tenant id (`[A-Za-z0-9._-]+`), sent as `X-Tenant-ID`. */
  tenantId: string;
  /**
   * Client certificate and server verification for `https://` servers: PEM, certificate files
   * (re-read when renewed) or SPIFFE mode (`{ spiffe: true }`, the Workload API).
   */
  tls?: TlsOptions;
  /** Offer HTTP/2 by ALPN over TLS (default true); HTTP/1.1 when the server does not select it. */
  http2?: boolean;
  /** HTTP/2 with prior knowledge (h2c) for `http://` servers (default false). */
  h2c?: boolean;
  /** More destinations the component may reach (`scheme://host:port`, `host:port`, `host`). */
  allowHosts?: string[];
  /** Per-call deadline in milliseconds (default 30000). */
  timeoutMs?: number;
  /** Proto package of the routes (default `metal.vmprovisioner.v1`). */
  routePrefix?: string;
  /** Wire codec (default `proto`). */
  codec?: WireCodec;
  /** Extra attempts for reads (default 2). */
  retries?: number;
  /** Largest response body accepted, in bytes (default 16 MiB). */
  maxResponseBytes?: number;
  /**
   * Response compression to ask for: `gzip` (default, as metald-cli: `Accept-Encoding: gzip`)
   * or `identity` (`Accept-Encoding: identity`, an uncompressed answer; a gzip answer is still
   * decoded).
   */
  compression?: Compression;
}

export interface Metald {
  /** The client opened with the options given to `createMetald`. */
  client: Client;
  /** Opens another client on the same transport (same allow-list and TLS identity). */
  openClient(overrides?: Partial<ClientOptions>): Client;
  /** The `vm-config-builder` resource. */
  VmConfigBuilder: typeof VmConfigBuilder;
  templates: typeof Templates;
  validation: typeof Validation;
  configFile: typeof ConfigFile;
  codec: typeof Codec;
  /**
   * Every export of this component instance, as jco generates them. At run time states and
   * modes are shown as above; these declarations are still jco's (`{ tag, val }`).
   */
  exports: Root;
  transport: Transport;
  /** Where this instance may connect. */
  allowed: string[];
  /** Closes pooled connections. Calls made afterwards fail. */
  close(): void;
}

/** Instantiates the component over its own transport and opens a client. */
export function createMetald(options: MetaldOptions): Metald;

/** Instantiates the component over `transport` and returns its raw exports. */
export function instantiateMetald(options: { transport: Transport }): Root;

/** The error thrown by the component's functions (jco's `ComponentError`). */
export interface ComponentError<P = MetaldErrorVariant> extends globalThis.Error {
  name: 'ComponentError';
  payload: P;
}

/** The metald `error` variant of a thrown error, or undefined for other errors. */
export function metaldError(error: unknown): MetaldErrorVariant | undefined;

export interface ErrorInfo {
  kind: 'connect' | 'transport' | 'invalid-config' | 'other';
  /**
   * The Connect name of the code (`not_found`, `unavailable`, ...): `invalid_argument` for
   * invalid-config, `unknown` for other.
   */
  code: ConnectCodeName;
  message: string;
  /** `connect` only. */
  httpStatus?: number;
  /** `connect` only. */
  details?: ErrorDetail[];
  /** `transport` only: a write may have reached the server. */
  outcomeUnknown?: boolean;
  /** `invalid-config` (and the list `validation.validateConfig` throws). */
  issues?: ValidationIssue[];
}

/** A flat view of a thrown metald error, or undefined when it is not one. */
export function errorInfo(error: unknown): ErrorInfo | undefined;

/** A Connect code's name: the WIT case with `_` for `-` (`not_found`). */
export type ConnectCodeName =
  | 'canceled' | 'unknown' | 'invalid_argument' | 'deadline_exceeded' | 'not_found' | 'already_exists'
  | 'permission_denied' | 'resource_exhausted' | 'failed_precondition' | 'aborted' | 'out_of_range'
  | 'unimplemented' | 'internal' | 'unavailable' | 'data_loss' | 'unauthenticated';

/** The Connect name of a code (`'not-found'` → `'not_found'`), from the component's table. */
export function codeName(code: ErrorCode): ConnectCodeName;

/**
 * The allow-list entry of a server URL as the component parses it (the host in lower case,
 * the port the written one or the scheme's default). Throws a ComponentError
 * (invalid-config, field `server`) for a URL the component refuses.
 */
export function serverAllowEntry(server: string): { scheme: 'http' | 'https'; host: string; port: number };


export type { ConnectError, TransportError, ValidationIssue, ErrorCode };
