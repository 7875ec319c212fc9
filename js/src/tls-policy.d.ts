/** The parts of Node's peer certificate object the policy reads. */
export interface PeerCertificateLike {
  subjectaltname?: string;
  ca?: boolean;
  raw?: Uint8Array;
}

/** The properties of a leaf certificate the SPIFFE rules look at. */
export interface LeafFacts {
  uris: string[];
  dnsOrIp: boolean;
  isCa: boolean;
  keyCertSign: boolean;
  crlSign: boolean;
}

/** Which server SPIFFE IDs are acceptable (see serverPolicy). */
export interface ServerPolicy {
  serverSpiffeId: string | null;
  trustDomain: string | null;
}

/** A server identity refused by the SPIFFE rules; `spiffeReason` is the shared vectors' keyword. */
export class ServerIdentityError extends Error {
  readonly code: 'ERR_METALD_SERVER_IDENTITY';
  readonly spiffeReason: string;
  constructor(reason: string, detail: string);
}

export function parseSpiffeId(id: string): { id: string; trustDomain: string; path: string };
export function parseSubjectAltName(text: string | undefined): Array<{ type: string; value: string }>;
export function leafFactsFromDer(der: Uint8Array): LeafFacts;
export function leafFactsOf(cert: PeerCertificateLike): LeafFacts;
export function usesSpiffeVerification(facts: LeafFacts): boolean;
export function serverPolicy(options?: { serverSpiffeId?: string | null; trustDomain?: string | null }): ServerPolicy;
export function authorizeServer(facts: LeafFacts, policy: ServerPolicy): string;
export function trustDomainOfCertificate(pem: string): string | null;
export function makeCheckServerIdentity(policy?: {
  serverSpiffeId?: string | null;
  trustDomain?: string | null;
}): (hostname: string, cert: PeerCertificateLike) => Error | undefined;
