// @metald/client: the metald client component (transpiled by jco into ../generated/) bound to
// a Node transport of our own (transport.js): client certificates, SPIFFE-aware server
// verification and an allow-list.

import { readFileSync } from 'node:fs';

import { monotonicClock } from '@bytecodealliance/preview2-shim/clocks';
import { error as ioError, poll, streams } from '@bytecodealliance/preview2-shim/io';

import { instantiate } from '../generated/metald.js';
import { AllowList, formatAllowedHost, parseAllowedHost } from './allow.js';
import { ERROR_TAGS as ERROR_CASES, FUNCTIONS, OPEN_ENUMS, TYPES } from './generated-wit.js';
import { createTransport } from './transport.js';
import { parseSpiffeId } from './tls-policy.js';
import { resolveSpiffeSocket } from './workload-api.js';

export { AllowList, createTransport, parseAllowedHost, parseSpiffeId, resolveSpiffeSocket };

/** The known cases of `vm-state` and `network-mode`, in protobuf-number order. */
export { VM_STATES, NETWORK_MODES };

const generated = new URL('../generated/', import.meta.url);
const coreModules = new Map();

/** Core wasm modules are compiled once per process and shared by every instance. */
function getCoreModule(name) {
  let module = coreModules.get(name);
  if (!module) {
    module = new WebAssembly.Module(readFileSync(new URL(name, generated)));
    coreModules.set(name, module);
  }
  return module;
}

const WIT_VERSION = { wasi: '0.2.12' };

/** The component's imports, with `transport` as its wasi:http implementation. */
function importsFor(transport) {
  const interfaces = {
    'wasi:clocks/monotonic-clock': monotonicClock,
    'wasi:http/outgoing-handler': transport.outgoingHandler,
    'wasi:http/types': transport.types,
    'wasi:io/error': ioError,
    'wasi:io/poll': poll,
    'wasi:io/streams': streams,
  };
  const imports = {};
  for (const [name, value] of Object.entries(interfaces)) {
    imports[name] = value;
    imports[`${name}@${WIT_VERSION.wasi}`] = value;
  }
  return imports;
}

/**
 * Instantiates the component with `transport` as its wasi:http implementation and returns
 * its raw exports (as jco generates them: `client`, `builder`, `templates`, `validation`,
 * `configFile`, `codec`, `errors`, `endpoint`, `types`).
 * @param {{ transport: ReturnType<typeof createTransport> }} options
 */
export function instantiateMetald({ transport }) {
  return withReadableErrors(instantiate(getCoreModule, importsFor(transport)));
}

let shared;

/**
 * The component's `errors` and `endpoint` exports (the Connect code table, error
 * descriptions, the server URL parser), from one instance made on first use. Its transport
 * is closed at once: these functions do no I/O.
 */
function sharedExports() {
  if (!shared) {
    const transport = createTransport({ allow: new AllowList([]) });
    try {
      const root = instantiate(getCoreModule, importsFor(transport));
      const codeNames = new Map(root.errors.codes().map((info) => [info.code, info.name]));
      shared = { errors: root.errors, endpoint: root.endpoint, codeNames };
    } finally {
      transport.close();
    }
  }
  return shared;
}

/**
 * The Connect name of a code (`'not-found'` → `'not_found'`), from the component's table.
 * @param {string} code a WIT `error-code` case
 */
export function codeName(code) {
  return sharedExports().codeNames.get(code) ?? code;
}

/**
 * The allow-list entry of a server URL, parsed by the component (as `Client.open` parses
 * it): `{ scheme, host, port }` with the host in lower case and the port the written one or
 * the scheme's default. Throws a ComponentError (invalid-config, field `server`) for a URL
 * the component refuses.
 * @param {string} server
 */
export function serverAllowEntry(server) {
  let url;
  try {
    url = sharedExports().endpoint.parseServerUrl(server);
  } catch (error) {
    throw readable(error);
  }
  return { scheme: url.scheme, host: url.host, port: url.port };
}

/**
 * A metald client bound to one server and identity over its own transport.
 *
 * @param {object} options
 * @param {string} options.server  base URL, `http://host:port` or `https://host:port`
 * @param {string} options.userId
 * @param {string} options.tenantId
 * @param {import('./transport.js').TlsOptions} [options.tls] client certificate and server
 *   verification: PEM (`cert`, `key`, `ca`), files re-read when renewed (`certFile`, `keyFile`,
 *   `caFile`, `reloadIntervalMs`) or the SPIFFE Workload API (`spiffe`); see transport.d.ts
 * @param {string[]} [options.allowHosts] more destinations the component may reach
 * @param {boolean} [options.http2] offer HTTP/2 by ALPN over TLS (default true)
 * @param {boolean} [options.h2c] HTTP/2 with prior knowledge for http:// servers (default false)
 * @param {number} [options.timeoutMs] per-call deadline (default 30000)
 * @param {string} [options.routePrefix]
 * @param {'proto'|'json'} [options.codec]
 * @param {number} [options.retries]
 * @param {number} [options.maxResponseBytes]
 * @param {'gzip'|'identity'} [options.compression] response compression to ask for: `gzip`
 *   (default, as metald-cli: `Accept-Encoding: gzip`) or `identity` (`Accept-Encoding: identity`,
 *   an uncompressed answer; a gzip answer is still decoded)
 */
export function createMetald(options) {
  if (!options || typeof options !== 'object') throw new TypeError('createMetald: options are required');
  const { server, userId, tenantId, tls, allowHosts = [], http2, h2c, ...rest } = options;
  const allow = new AllowList(allowHosts);
  // An unparsable server URL is left to Client.open, which reports it as invalid-config.
  let serverEntry = null;
  try {
    serverEntry = serverAllowEntry(server);
  } catch {
    // Nothing to allow.
  }
  if (serverEntry) allow.entries.unshift(serverEntry);
  const transport = createTransport({ allow, tls, http2, h2c });
  let root;
  try {
    root = instantiateMetald({ transport });
  } catch (error) {
    transport.close();
    throw error;
  }
  const clientDefaults = { server, userId, tenantId, ...rest };
  /** Opens another client on this transport (same allow-list and TLS identity). */
  const openClient = (overrides = {}) => root.client.Client.open({ ...clientDefaults, ...overrides });
  let client;
  try {
    client = openClient();
  } catch (error) {
    transport.close();
    throw error;
  }
  let closed = false;
  return {
    client,
    openClient,
    VmConfigBuilder: root.builder.VmConfigBuilder,
    templates: root.templates,
    validation: root.validation,
    configFile: root.configFile,
    codec: root.codec,
    exports: root,
    transport,
    /** Where this instance may connect, as `scheme://host:port` entries. */
    allowed: allow.entries.map(formatAllowedHost),
    close() {
      if (closed) return;
      closed = true;
      transport.close();
    },
    [Symbol.dispose || Symbol.for('dispose')]() {
      this.close();
    },
  };
}

// ---------------------------------------------------------------------------------------
// Open enums

// Protobuf enums are open. The component's `vm-state` and `network-mode` are WIT variants
// whose known cases (in wire-number order from 0) come with an `unknown(s32)` case for a
// number the SDK does not know; jco would hand them over as `{ tag, val }`. This package
// shows them as the case name (`'running'`, `'dual-stack'`) or, for an unknown number, as
// that number (`5`), and takes a name, a number (`2` is `'running'`, `5` is sent as 5) or
// jco's `{ tag, val }` on input. Where they sit (which fields, parameters and results, by
// type) is generated from the WIT into generated-wit.js.
const VM_STATES = OPEN_ENUMS['vm-state'];
const NETWORK_MODES = OPEN_ENUMS['network-mode'];

function isPlain(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `table[key]` when it is the table's own entry. */
function own(table, key) {
  return table && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** A name, a number or `{ tag, val }` as the WIT variant value jco expects. */
function enumToWit(cases, value) {
  if (typeof value === 'number' && Number.isInteger(value)) {
    return value >= 0 && value < cases.length ? { tag: cases[value] } : { tag: 'unknown', val: value };
  }
  if (typeof value === 'string') {
    const name = value.trim().toLowerCase().replaceAll('_', '-');
    if (cases.includes(name)) return { tag: name };
  }
  return value; // jco reports anything else as a type error
}

/** The variant value as its case name, or the number of an unknown one. */
function enumFromWit(_cases, value) {
  if (isPlain(value) && typeof value.tag === 'string') return value.tag === 'unknown' ? value.val : value.tag;
  return value;
}

/**
 * `value` with the open enums its `shape` (generated-wit.js) places mapped by
 * `map(cases, v)`: the lists, records and variants on the way are copied, the rest is shared.
 * A value that does not have the shape's form is left for jco to judge.
 */
function mapShape(shape, value, map) {
  if (!shape) return value;
  if (shape.enum) return map(OPEN_ENUMS[shape.enum], value);
  if (shape.type) return mapShape(TYPES[shape.type], value, map);
  if (shape.option) return value === undefined || value === null ? value : mapShape(shape.option, value, map);
  if (shape.list || shape.tuple) {
    if (!Array.isArray(value)) return value;
    return value.map((item, i) => mapShape(shape.list ?? shape.tuple[i], item, map));
  }
  if (!isPlain(value)) return value;
  if (shape.record) {
    const out = { ...value };
    for (const [key, field] of Object.entries(shape.record)) {
      if (Object.hasOwn(value, key)) out[key] = mapShape(field, value[key], map);
    }
    return out;
  }
  const payload = own(shape.variant, value.tag);
  return payload && Object.hasOwn(value, 'val') ? { ...value, val: mapShape(payload, value.val, map) } : value;
}

// ---------------------------------------------------------------------------------------
// Errors

// The `error` variant's cases, generated from the WIT (generated-wit.js).
const ERROR_TAGS = new Set(ERROR_CASES);

/**
 * The metald `error` variant carried by an error thrown from the component (a jco
 * `ComponentError`, whose `payload` is the variant), or `undefined` for anything else.
 * @returns {{tag: 'connect'|'transport'|'invalid-config'|'other', val: any} | undefined}
 */
export function metaldError(error) {
  const payload = error?.payload;
  return payload && typeof payload === 'object' && ERROR_TAGS.has(payload.tag) ? payload : undefined;
}

/**
 * A flat view of a thrown metald error:
 * `{ kind, code, message, httpStatus, outcomeUnknown, issues, details }`, or `undefined` when
 * `error` is not one. `code` is the Connect name of the code (`not_found`, `unavailable`,
 * ...; see `codeName`) for `connect` and `transport` errors, `invalid_argument` for
 * `invalid-config` and `unknown` for `other`; `issues` lists `{field, message}` for
 * `invalid-config` (and for the list thrown by `validation.validateConfig`), whose
 * `message` is the component's `field: message; ...`.
 */
export function errorInfo(error) {
  const payload = error?.payload;
  if (Array.isArray(payload) && payload.every(isIssue)) return issuesInfo(payload);
  const variant = metaldError(error);
  if (!variant) return undefined;
  const { tag, val } = variant;
  switch (tag) {
    case 'connect':
      return { kind: tag, code: codeName(val.code), message: val.message, httpStatus: val.httpStatus, details: val.details };
    case 'transport':
      return { kind: tag, code: codeName(val.code), message: val.message, outcomeUnknown: val.outcomeUnknown };
    case 'invalid-config':
      return issuesInfo(val);
    default:
      return { kind: tag, code: codeName('unknown'), message: String(val) };
  }
}

function isIssue(value) {
  return value && typeof value.field === 'string' && typeof value.message === 'string';
}

function issuesInfo(issues) {
  const message = sharedExports().errors.describeIssues(issues);
  return { kind: 'invalid-config', code: codeName('invalid-argument'), message, issues };
}

/** The component's one-line description of a metald error payload (`not_found: ...`). */
function describe(error) {
  const payload = error?.payload;
  if (Array.isArray(payload) && payload.every(isIssue)) {
    return sharedExports().errors.describe({ tag: 'invalid-config', val: payload });
  }
  const variant = metaldError(error);
  return variant ? sharedExports().errors.describe(variant) : undefined;
}

/**
 * jco's ComponentError says "[object Object] (see error.payload)". Give the same error
 * object (payload untouched) a readable message and the name ComponentError.
 */
function readable(error) {
  let text;
  try {
    text = error && typeof error === 'object' && 'payload' in error ? describe(error) : undefined;
  } catch {
    // A payload the component cannot take back: keep jco's message.
  }
  if (text !== undefined) {
    const header = `${error.name}: ${error.message}`;
    try {
      Object.defineProperty(error, 'name', { value: 'ComponentError', configurable: true, writable: true });
      error.message = text;
      if (typeof error.stack === 'string' && error.stack.startsWith(header)) {
        error.stack = `ComponentError: ${text}${error.stack.slice(header.length)}`;
      }
    } catch {
      // Leave it as it is.
    }
  }
  return error;
}

/** `fn` with readable errors and, where `shape` (a FUNCTIONS entry) says, open enums mapped. */
function wrapFunction(fn, shape) {
  const params = shape?.params;
  return function metaldCall(...args) {
    let result;
    try {
      result = fn.apply(this, params ? args.map((arg, i) => mapShape(params[i], arg, enumToWit)) : args);
    } catch (error) {
      throw readable(error);
    }
    return mapShape(shape?.result, result, enumFromWit);
  };
}

function isClass(value) {
  return typeof value === 'function' && /^class\b/.test(Function.prototype.toString.call(value));
}

/**
 * Wraps every exported function, resource method and static function (per instance): readable
 * errors, and open enums as names or numbers (see above).
 */
function withReadableErrors(root) {
  // jco gives each interface under its short and its qualified name; FUNCTIONS uses the latter.
  const qualified = new Map(Object.entries(root).filter(([name]) => name.includes(':')).map(([n, i]) => [i, n]));
  const seen = new Set();
  for (const iface of Object.values(root)) {
    if (!iface || typeof iface !== 'object' || seen.has(iface)) continue;
    seen.add(iface);
    const shapes = own(FUNCTIONS, qualified.get(iface));
    for (const [name, value] of Object.entries(iface)) {
      if (isClass(value)) {
        if (seen.has(value)) continue;
        seen.add(value);
        for (const key of Object.getOwnPropertyNames(value.prototype)) {
          const descriptor = Object.getOwnPropertyDescriptor(value.prototype, key);
          if (key !== 'constructor' && typeof descriptor.value === 'function') {
            const wrapped = wrapFunction(descriptor.value, own(shapes, `${name}#${key}`));
            Object.defineProperty(value.prototype, key, { ...descriptor, value: wrapped });
          }
        }
        for (const key of Object.getOwnPropertyNames(value)) {
          const descriptor = Object.getOwnPropertyDescriptor(value, key);
          if (typeof descriptor.value === 'function' && descriptor.writable) {
            const wrapped = wrapFunction(descriptor.value, own(shapes, `${name}.${key}`));
            Object.defineProperty(value, key, { ...descriptor, value: wrapped });
          }
        }
      } else if (typeof value === 'function') {
        iface[name] = wrapFunction(value, own(shapes, name));
      }
    }
  }
  return root;
}
