// The component over file-mode mTLS against `metald-host dev-server --tls-mode file`, which
// requires a client certificate chaining to its --tls-client-ca. Certificates are made at
// test time (test/support/pki.mjs).

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { createMetald } from '../src/index.js';
import { startDevServer } from './support/dev-server.mjs';
import { expectMetaldError, runLifecycle } from './support/lifecycle.mjs';
import { Ca, forgePrivateKeyPem, issueWithProperties, keyPair, loopback, tempDir } from './support/pki.mjs';
import { readPeerLog, serialHex } from './support/workload-api.mjs';
import { startH1TlsServer } from './support/h1-tls-server.mjs';

const identity = { userId: 'alice', tenantId: 'acme' };
const noPage = { stateFilter: [], pageSize: 0, pageToken: '' };

describe('file mTLS', () => {
  let files;
  let ca;
  let otherCa;
  let client;
  let otherDomainClient;
  /** Server certificate with DNS and IP SANs (and a SPIFFE ID): verified by host name/IP. */
  let standard;
  /** Server certificate with only a SPIFFE URI SAN: verified the SPIFFE way. */
  let spiffeOnly;
  /** Server certificate for another host name only. */
  let otherName;
  /** SPIFFE-only server certificates that an X509-SVID must not be, or that name no one. */
  let notMetald;
  let keyCertSign;
  let bareDomain;

  const startTlsServer = (leaf, name) =>
    startDevServer([
      '--tls-mode',
      'file',
      '--tls-cert',
      files.write(`${name}.pem`, leaf.cert),
      '--tls-key',
      files.write(`${name}.key`, leaf.key),
      '--tls-client-ca',
      files.write('client-ca.pem', ca.pem),
    ]);

  /** Calls ListVms through a fresh instance; returns the response or throws. */
  const listWith = (server, tls, extra = {}) => {
    const metald = createMetald({ server: server.url, ...identity, tls, retries: 0, ...extra });
    try {
      return metald.client.listVms(noPage);
    } finally {
      metald.close();
    }
  };

  before(async () => {
    files = tempDir();
    ca = new Ca('example.org');
    otherCa = new Ca('other.org');
    client = ca.issue([{ uri: 'spiffe://example.org/client' }]);
    otherDomainClient = ca.issue([{ uri: 'spiffe://other.org/client' }]);
    const leafKeys = keyPair();
    const leaf = (properties) => {
      const cert = issueWithProperties(ca, leafKeys, { dnsOrIpSan: false, isCa: false, ...properties });
      return { cert, key: forgePrivateKeyPem(leafKeys) };
    };
    [standard, spiffeOnly, otherName, notMetald, keyCertSign, bareDomain] = await Promise.all([
      startTlsServer(ca.issue([...loopback, { uri: 'spiffe://example.org/metald' }]), 'standard'),
      startTlsServer(ca.issue([{ uri: 'spiffe://example.org/metald' }]), 'spiffe-only'),
      startTlsServer(ca.issue([{ dns: 'metald.example.org' }]), 'other-name'),
      startTlsServer(ca.issue([{ uri: 'spiffe://example.org/not-metald' }]), 'not-metald'),
      startTlsServer(
        leaf({ uriSans: ['spiffe://example.org/metald'], keyUsage: ['digitalSignature', 'keyEncipherment', 'keyCertSign'] }),
        'key-cert-sign',
      ),
      startTlsServer(leaf({ uriSans: ['spiffe://example.org'], keyUsage: ['digitalSignature', 'keyEncipherment'] }), 'bare-domain'),
    ]);
  });

  after(async () => {
    await Promise.all([standard, spiffeOnly, otherName, notMetald, keyCertSign, bareDomain].map((s) => s?.stop()));
    files?.remove();
  });

  test('the whole lifecycle over mTLS, presenting a SPIFFE client certificate', () => {
    assert.match(standard.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    // The server requires a client certificate: the handshake succeeding shows it saw ours.
    const metald = createMetald({ server: standard.url, ...identity, tls: { cert: client.cert, key: client.key, ca: ca.pem } });
    try {
      runLifecycle(metald);
    } finally {
      metald.close();
    }
  });

  test('PEM material may be given as Buffers', () => {
    const tls = { cert: Buffer.from(client.cert), key: Buffer.from(client.key), ca: [Buffer.from(ca.pem)] };
    assert.equal(listWith(standard, tls).totalCount, 0);
  });

  test('a client without a certificate is refused (unauthenticated)', () => {
    const info = expectMetaldError(() => listWith(standard, { ca: ca.pem }), 'transport', 'unauthenticated');
    assert.match(info.message, /TLS: .*certificate required/i);
  });

  test('a server whose certificate does not chain to the CA is refused', () => {
    const tls = { cert: client.cert, key: client.key, ca: otherCa.pem };
    const info = expectMetaldError(() => listWith(standard, tls), 'transport', 'unauthenticated');
    assert.match(info.message, /TLS: .*(verify|issuer)/i);
  });

  test('a server certificate with DNS SANs is checked against the host name', () => {
    const tls = { cert: client.cert, key: client.key, ca: ca.pem };
    const info = expectMetaldError(() => listWith(otherName, tls), 'transport', 'unauthenticated');
    assert.match(info.message, /TLS: .*not in the cert's (list|altnames)/);
    // The same certificate, reached by the name it carries, would pass: localhost is a
    // name the standard server has.
    const byName = createMetald({ server: standard.url.replace('127.0.0.1', 'localhost'), ...identity, tls });
    try {
      assert.equal(byName.client.listVms(noPage).totalCount, 0);
    } finally {
      byName.close();
    }
  });

  test('a SPIFFE-only server is authorized by our trust domain', () => {
    const tls = { cert: client.cert, key: client.key, ca: ca.pem };
    assert.equal(listWith(spiffeOnly, tls).totalCount, 0);
    const info = expectMetaldError(
      () => listWith(spiffeOnly, { cert: otherDomainClient.cert, key: otherDomainClient.key, ca: ca.pem }),
      'transport',
      'unauthenticated',
    );
    assert.match(info.message, /spiffe:\/\/example\.org\/metald is outside our trust domain other\.org/);
  });

  test('a SPIFFE-only server is authorized by exact SPIFFE ID when one is given', () => {
    const base = { cert: otherDomainClient.cert, key: otherDomainClient.key, ca: ca.pem };
    // The exact ID takes precedence over the trust domain.
    assert.equal(listWith(spiffeOnly, { ...base, serverSpiffeId: 'spiffe://example.org/metald' }).totalCount, 0);
    const info = expectMetaldError(
      () => listWith(spiffeOnly, { ...base, serverSpiffeId: 'spiffe://example.org/not-metald' }),
      'transport',
      'unauthenticated',
    );
    assert.match(info.message, /is not the expected spiffe:\/\/example\.org\/not-metald/);
  });

  test('without a client SPIFFE ID or serverSpiffeId a SPIFFE-only server is refused (fail closed)', () => {
    const info = expectMetaldError(() => listWith(notMetald, { ca: ca.pem }), 'transport', 'unauthenticated');
    assert.match(info.message, /no-policy.*set tls\.serverSpiffeId/);
    // Naming the server authorizes it (the server then refuses us for lacking a certificate).
    const named = expectMetaldError(
      () => listWith(notMetald, { ca: ca.pem, serverSpiffeId: 'spiffe://example.org/not-metald' }),
      'transport',
      'unauthenticated',
    );
    assert.doesNotMatch(named.message, /no-policy/);
  });

  test('X509-SVID leaf rules: keyCertSign and a bare trust-domain ID are refused', () => {
    const tls = { cert: client.cert, key: client.key, ca: ca.pem };
    const signing = expectMetaldError(() => listWith(keyCertSign, tls), 'transport', 'unauthenticated');
    assert.match(signing.message, /key-cert-sign/);
    const bare = expectMetaldError(() => listWith(bareDomain, tls), 'transport', 'unauthenticated');
    assert.match(bare.message, /no-path/);
  });

  test('a SPIFFE-only server must still chain to the CA', () => {
    const tls = { cert: client.cert, key: client.key, ca: otherCa.pem };
    expectMetaldError(() => listWith(spiffeOnly, tls), 'transport', 'unauthenticated');
  });

  test('TLS options are checked up front', () => {
    const expired = ca.issue([{ uri: 'spiffe://example.org/client' }], { expired: true });
    const server = standard.url;
    const cases = [
      [{ cert: client.cert }, /needs its private key/],
      [{ key: client.key }, /needs its certificate/],
      [{ cert: client.cert, key: otherDomainClient.key }, /does not belong/],
      [{ cert: expired.cert, key: expired.key }, /expired/],
      [{ cert: 'not a pem', key: client.key }, /tls\.cert/],
      [{ ca: 'nonsense' }, /tls\.ca/],
      [{ serverSpiffeId: 'https://example.org/x' }, /SPIFFE ID/],
      [{ serverSpiffeId: 'spiffe://Example.org/x' }, /trust domain/],
    ];
    for (const [tls, message] of cases) {
      assert.throws(() => createMetald({ server, ...identity, tls }), message, JSON.stringify(Object.keys(tls)));
    }
  });
});

describe('file mTLS from certificate files (tls.certFile, tls.keyFile, tls.caFile)', () => {
  let files;
  let ca;
  let server;
  let peerLog;
  let client;

  const serialOf = (pem) => serialHex(new X509Certificate(pem).serialNumber);

  before(async () => {
    files = tempDir();
    ca = new Ca('example.org');
    client = ca.issue([{ uri: 'spiffe://example.org/client' }]);
    const leaf = ca.issue([...loopback, { uri: 'spiffe://example.org/metald' }]);
    peerLog = files.write('peers.jsonl', '');
    server = await startDevServer([
      '--tls-mode', 'file',
      '--tls-cert', files.write('server.pem', leaf.cert),
      '--tls-key', files.write('server.key', leaf.key),
      '--tls-client-ca', files.write('client-ca.pem', ca.pem),
      '--peer-log', peerLog,
    ]);
  });

  after(async () => {
    await server?.stop();
    files?.remove();
  });

  const fileTls = (name, leaf, extra = {}) => ({
    certFile: files.write(`${name}.pem`, leaf.cert),
    keyFile: files.write(`${name}.key`, leaf.key),
    caFile: files.write('ca.pem', ca.pem),
    ...extra,
  });

  test('the whole lifecycle over HTTP/2 (ALPN), the client certificate seen by the server', () => {
    const since = readPeerLog(peerLog).length;
    const metald = createMetald({ server: server.url, ...identity, tls: fileTls('client', client) });
    try {
      runLifecycle(metald);
      assert.equal(metald.transport.info().requests['http/1.1'], 0);
    } finally {
      metald.close();
    }
    assert.deepEqual(readPeerLog(peerLog).slice(since), [
      { serial: serialOf(client.cert), spiffe_id: 'spiffe://example.org/client', alpn: 'h2' },
    ]);
  });

  test('http2: false keeps to HTTP/1.1 (the server sees http/1.1 by ALPN)', () => {
    const since = readPeerLog(peerLog).length;
    const metald = createMetald({ server: server.url, ...identity, http2: false, tls: fileTls('client', client) });
    try {
      metald.client.listVms(noPage);
      metald.client.listVms(noPage);
      assert.deepEqual(metald.transport.info().requests, { h2: 0, 'http/1.1': 2 });
    } finally {
      metald.close();
    }
    const lines = readPeerLog(peerLog).slice(since);
    assert.ok(lines.length >= 1 && lines.every((line) => line.alpn === 'http/1.1'), JSON.stringify(lines));
  });

  test('renewed files are presented by new connections (tls.reloadIntervalMs)', async () => {
    const tls = fileTls('renewed', client, { reloadIntervalMs: 1 });
    const metald = createMetald({ server: server.url, ...identity, tls });
    try {
      const since = readPeerLog(peerLog).length;
      metald.client.listVms(noPage);
      const renewed = ca.issue([{ uri: 'spiffe://example.org/client' }]);
      files.write('renewed.pem', renewed.cert);
      files.write('renewed.key', renewed.key);
      await sleep(5);
      metald.client.listVms(noPage);
      metald.client.listVms(noPage);
      assert.deepEqual(
        readPeerLog(peerLog).slice(since).map((line) => line.serial),
        [serialOf(client.cert), serialOf(renewed.cert)],
      );
      // A renewal that fails its checks (a key of another certificate) is not applied.
      files.write('renewed.key', client.key);
      await sleep(5);
      assert.equal(metald.client.listVms(noPage).totalCount, 0);
      assert.equal(metald.transport.info().identity.serial, new X509Certificate(renewed.cert).serialNumber);
    } finally {
      metald.close();
    }
  });

  test('expired, mismatched, unreadable or unpaired files are refused, naming the file', () => {
    const expired = ca.issue([{ uri: 'spiffe://example.org/client' }], { expired: true });
    const other = ca.issue([{ uri: 'spiffe://example.org/other' }]);
    const expiredTls = fileTls('expired', expired);
    const mismatched = { ...fileTls('mismatched', client), keyFile: files.write('other.key', other.key) };
    const missing = `${files.dir}/missing.pem`;
    const notPem = files.write('not-pem.pem', 'not a certificate');
    const cases = [
      [expiredTls, new RegExp(`tls\\.certFile ${expiredTls.certFile}: the certificate expired`)],
      [mismatched, new RegExp(`tls\\.keyFile ${mismatched.keyFile} does not belong to tls\\.certFile ${mismatched.certFile}`)],
      [{ ...mismatched, certFile: missing }, new RegExp(`tls\\.certFile ${missing}: cannot read it \\(ENOENT\\)`)],
      [{ ...mismatched, certFile: notPem }, new RegExp(`tls\\.certFile ${notPem}: not a PEM certificate`)],
      [{ ...fileTls('good', client), caFile: notPem }, new RegExp(`tls\\.caFile ${notPem}: no PEM certificate`)],
      [{ certFile: mismatched.certFile }, new RegExp(`tls\\.certFile ${mismatched.certFile} needs its private key: pass tls\\.keyFile`)],
      [{ ...mismatched, cert: client.cert }, /either as PEM \(tls\.cert\) or as files/],
      [{ ...mismatched, reloadIntervalMs: 'soon' }, /tls\.reloadIntervalMs/],
    ];
    for (const [tls, message] of cases) {
      assert.throws(() => createMetald({ server: server.url, ...identity, tls }), message, JSON.stringify(tls));
    }
  });
});

describe('HTTP/1.1 fallback', () => {
  test('a TLS server that does not negotiate h2 is spoken to over HTTP/1.1', async () => {
    const ca = new Ca('example.org');
    const leaf = ca.issue(loopback);
    const server = await startH1TlsServer(leaf);
    const metald = createMetald({ server: `https://127.0.0.1:${server.port}`, ...identity, tls: { ca: ca.pem } });
    try {
      assert.equal(metald.client.listVms(noPage).totalCount, 0);
      assert.equal(metald.client.listVms(noPage).totalCount, 0);
      assert.deepEqual(metald.transport.info().requests, { h2: 0, 'http/1.1': 2 });
    } finally {
      metald.close();
      assert.deepEqual(await server.seen(), ['http/1.1', 'http/1.1']);
      await server.stop();
    }
  });
});
