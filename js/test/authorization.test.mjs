// The shared SPIFFE authorization vectors (testdata/spiffe-authorization.json, which the Go and
// Rust tests read too) against the JS policy: each case on the properties as given, and on a
// real certificate made with them and read back from its DER.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import {
  authorizeServer,
  leafFactsFromDer,
  makeCheckServerIdentity,
  serverPolicy,
  usesSpiffeVerification,
} from '../src/tls-policy.js';
import { Ca, issueWithProperties, keyPair } from './support/pki.mjs';

const vectors = JSON.parse(readFileSync(new URL('../../testdata/spiffe-authorization.json', import.meta.url), 'utf8'));

/** The outcome of the policy for `facts` under the vector's configuration. */
function outcome(vector, facts) {
  const policy = serverPolicy({ serverSpiffeId: vector.server_spiffe_id, trustDomain: vector.trust_domain });
  const route = usesSpiffeVerification(facts) ? 'spiffe' : 'hostname';
  try {
    return { route, expect: 'accept', spiffeId: authorizeServer(facts, policy) };
  } catch (error) {
    assert.equal(error.code, 'ERR_METALD_SERVER_IDENTITY', String(error));
    return { route, expect: 'reject', reason: error.spiffeReason, message: error.message };
  }
}

function check(vector, facts) {
  const got = outcome(vector, facts);
  assert.equal(got.route, vector.file_mode_verification, 'file mode verification');
  assert.equal(got.expect, vector.expect, got.message ?? got.spiffeId);
  if (vector.expect === 'accept') assert.equal(got.spiffeId, vector.spiffe_id);
  else assert.equal(got.reason, vector.reason, got.message);
}

describe('shared SPIFFE authorization vectors', () => {
  const ca = new Ca('vectors.test');
  const keys = keyPair();

  test('cover every outcome', () => {
    const outcomes = new Set(vectors.map((v) => (v.expect === 'accept' ? 'accept' : v.reason)));
    for (const wanted of [
      'accept', 'uri-san-count', 'not-spiffe-uri', 'malformed-id', 'ca-leaf', 'key-cert-sign',
      'crl-sign', 'no-path', 'id-mismatch', 'trust-domain-mismatch', 'no-policy',
    ]) {
      assert.ok(outcomes.has(wanted), `no vector with outcome ${wanted}`);
    }
  });

  for (const vector of vectors) {
    test(vector.name, () => {
      const { server } = vector;
      const given = {
        uris: server.uri_sans,
        dnsOrIp: server.dns_or_ip_san,
        isCa: server.is_ca,
        keyCertSign: server.key_usage.includes('keyCertSign'),
        crlSign: server.key_usage.includes('cRLSign'),
      };
      check(vector, given);
      const pem = issueWithProperties(ca, keys, {
        uriSans: server.uri_sans,
        dnsOrIpSan: server.dns_or_ip_san,
        isCa: server.is_ca,
        keyUsage: server.key_usage,
      });
      const read = leafFactsFromDer(new X509Certificate(pem).raw);
      assert.deepEqual(read, given, 'the certificate reads back as made');
      check(vector, read);
    });
  }
});

describe('checkServerIdentity', () => {
  test('fails closed without a server ID or a trust domain of our own', () => {
    const check = makeCheckServerIdentity({});
    const error = check('127.0.0.1', { subjectaltname: 'URI:spiffe://example.org/not-metald' });
    assert.equal(error?.spiffeReason, 'no-policy');
    assert.match(error.message, /set tls\.serverSpiffeId/);
  });

  test('a configured server ID must name a workload', () => {
    assert.throws(() => serverPolicy({ serverSpiffeId: 'spiffe://example.org' }), /bare trust domain/);
    assert.throws(() => serverPolicy({ serverSpiffeId: 'spiffe://example.org/' }), /tls\.serverSpiffeId/);
  });
});
