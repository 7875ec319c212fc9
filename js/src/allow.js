// The outbound allow-list: which `scheme://host:port` the component may reach. The same
// rules as the Rust host (host/src/transport/allow.rs), checked against the shared vectors
// in testdata/allow-list.json: an entry is `scheme://host[:port]`, `host:port` or `host`; no
// paths, no wildcards; a missing scheme allows http and https; a missing port means the
// scheme's default port.

import { isIPv6 } from 'node:net';

const defaultPort = (scheme) => (scheme === 'https' ? 443 : 80);

/** A host name or IPv4 address of RFC 3986 reg-name characters, or an IPv6 address in brackets. */
const validHost = (host) =>
  host.startsWith('[') ? /^\[[^\]]+\]$/.test(host) && isIPv6(host.slice(1, -1)) : /^[A-Za-z0-9\-._~%]+$/.test(host);

/**
 * Parses one allow-list entry.
 * @param {string} entry
 * @returns {{ scheme: 'http' | 'https' | null, host: string, port: number | null }}
 */
export function parseAllowedHost(entry) {
  const fail = (reason) => {
    throw new TypeError(`invalid allow-list entry ${JSON.stringify(entry)}: ${reason}`);
  };
  if (typeof entry !== 'string') fail('expected a string');
  let scheme = null;
  let rest = entry;
  const sep = entry.indexOf('://');
  if (sep !== -1) {
    scheme = entry.slice(0, sep);
    if (scheme !== 'http' && scheme !== 'https') fail('the scheme must be http or https');
    rest = entry.slice(sep + 3);
  }
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  if (rest === '' || /[/?#@*]/.test(rest)) {
    fail('expected scheme://host:port, host:port or host; paths and wildcards are not allowed');
  }
  let host = rest;
  let port = null;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1 && !rest.slice(colon + 1).includes(']')) {
    host = rest.slice(0, colon);
    const text = rest.slice(colon + 1);
    if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) fail('the port must be a number 1-65535');
    port = Number(text);
  }
  if (host === '' || port === 0) fail('the host and port must not be empty or zero');
  if (!validHost(host)) fail('expected scheme://host:port, host:port or host; paths and wildcards are not allowed');
  return { scheme, host: host.toLowerCase(), port };
}

/** Renders an entry as `scheme://host:port`. */
export function formatAllowedHost({ scheme, host, port }) {
  return `${scheme ? `${scheme}://` : ''}${host}${port === null ? '' : `:${port}`}`;
}

/** The destinations a transport may reach; everything else is denied. */
export class AllowList {
  /** @param {Array<string | {scheme: string|null, host: string, port: number|null}>} entries */
  constructor(entries = []) {
    this.entries = entries.map((e) => (typeof e === 'string' ? parseAllowedHost(e) : { ...e }));
  }

  /**
   * Whether a request may go to `scheme://authority`.
   * @param {string} scheme `http` or `https`
   * @param {string} host host name or IP, IPv6 in brackets
   * @param {number | null} port null for the scheme's default
   */
  allows(scheme, host, port) {
    const wanted = port ?? defaultPort(scheme);
    const lower = host.toLowerCase();
    return this.entries.some(
      (e) => (e.scheme === null || e.scheme === scheme) && e.host === lower && (e.port ?? defaultPort(scheme)) === wanted,
    );
  }

  toString() {
    return this.entries.map(formatAllowedHost).join(', ');
  }
}

/**
 * Splits a wasi:http authority (`host`, `host:port`, `[v6]:port`) into host and port.
 * @returns {{ host: string, port: number | null } | null} null when malformed
 */
export function splitAuthority(authority) {
  if (typeof authority !== 'string' || authority === '' || /[/?#@\s]/.test(authority)) return null;
  let host = authority;
  let port = null;
  const colon = authority.lastIndexOf(':');
  if (colon !== -1 && !authority.slice(colon + 1).includes(']')) {
    host = authority.slice(0, colon);
    const text = authority.slice(colon + 1);
    if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) return null;
    port = Number(text);
  }
  if (host === '' || !validHost(host)) return null;
  return { host, port };
}
