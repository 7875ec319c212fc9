export interface AllowedHost {
  /** `http` or `https`; null allows both. */
  scheme: 'http' | 'https' | null;
  /** Host name or IP, lower case (IPv6 in brackets). */
  host: string;
  /** Port; null means the scheme's default. */
  port: number | null;
}

/** Parses `scheme://host[:port]`, `host:port` or `host` (no paths, no wildcards). */
export function parseAllowedHost(entry: string): AllowedHost;
export function formatAllowedHost(entry: AllowedHost): string;
/** Splits a wasi:http authority into host and port; null when malformed. */
export function splitAuthority(authority: string): { host: string; port: number | null } | null;

/** The destinations a transport may reach; everything else is denied. */
export class AllowList {
  constructor(entries?: Array<string | AllowedHost>);
  entries: AllowedHost[];
  allows(scheme: string, host: string, port: number | null): boolean;
  toString(): string;
}
