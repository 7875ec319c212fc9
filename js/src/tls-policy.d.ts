/** The parts of Node's peer certificate object the policy reads. */
export interface PeerCertificateLike {
  subjectaltname?: string;
  ca?: boolean;
  raw?: Uint8Array;
}

export function parseSpiffeId(id: string): { id: string; trustDomain: string; path: string };
export function parseSubjectAltName(text: string | undefined): Array<{ type: string; value: string }>;
export function trustDomainOfCertificate(pem: string): string | null;
export function makeCheckServerIdentity(policy?: {
  serverSpiffeId?: string | null;
  trustDomain?: string | null;
}): (hostname: string, cert: PeerCertificateLike) => Error | undefined;
