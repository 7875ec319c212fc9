// SPIFFE mode: the client's X.509-SVID and bundle come from a SPIFFE Workload API
// (`metald-fake-workload-api`, serving PEM files), against `metald-host dev-server
// --tls-mode spiffe` (its own SVID from another fake Workload API) with `--peer-log`, which
// records the serial, SPIFFE ID and ALPN protocol of every client handshake.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { createMetald } from '../src/index.js';
import { resolveSpiffeSocket, selectSvid } from '../src/workload-api.js';
import { startDevServer } from './support/dev-server.mjs';
import { expectMetaldError, runLifecycle } from './support/lifecycle.mjs';
import { Ca, tempDir } from './support/pki.mjs';
import { readPeerLog, serialHex, startWorkloadApi } from './support/workload-api.mjs';

const identity = { userId: 'alice', tenantId: 'acme' };
const noPage = { stateFilter: [], pageSize: 0, pageToken: '' };
const serialOf = (pem) => serialHex(new X509Certificate(pem).serialNumber);

describe('SPIFFE mode (Workload API)', () => {
  let files;
  let ca;
  let otherCa;
  let serverApi;
  let server;
  let peerLog;
  /** Workload APIs of clients: one SVID; two SVIDs; another trust domain; no identity. */
  let clientApi;
  let twoIdsApi;
  let otherDomainApi;
  let noIdentityApi;
  let clientSvid;

  const list = (metald) => metald.client.listVms(noPage);
  const open = (tls, extra = {}) => createMetald({ server: server.url, ...identity, tls, retries: 0, ...extra });
  const newHandshakes = (since) => readPeerLog(peerLog).slice(since);

  before(async () => {
    files = tempDir();
    ca = new Ca('example.org');
    otherCa = new Ca('other.org');
    clientSvid = ca.issue([{ uri: 'spiffe://example.org/client' }]);
    peerLog = `${files.dir}/peers.jsonl`;
    [serverApi, clientApi, twoIdsApi, otherDomainApi, noIdentityApi] = await Promise.all([
      startWorkloadApi(files, 'server', { bundle: ca.pem, svids: [ca.issue([{ uri: 'spiffe://example.org/metald' }])] }),
      startWorkloadApi(files, 'client', { bundle: ca.pem, svids: [clientSvid] }),
      startWorkloadApi(files, 'two-ids', {
        bundle: ca.pem,
        svids: [ca.issue([{ uri: 'spiffe://example.org/first' }]), ca.issue([{ uri: 'spiffe://example.org/second' }])],
      }),
      // A workload of other.org that also trusts example.org's CA: the chain verifies, the
      // trust domain does not match.
      startWorkloadApi(files, 'other-domain', {
        bundle: `${otherCa.pem}${ca.pem}`,
        svids: [otherCa.issue([{ uri: 'spiffe://other.org/client' }])],
      }),
      startWorkloadApi(files, 'no-identity', { bundle: ca.pem, svids: [] }),
    ]);
    server = await startDevServer(['--tls-mode', 'spiffe', '--spiffe-socket', serverApi.socket, '--peer-log', peerLog]);
  });

  after(async () => {
    await server?.stop();
    await Promise.all([serverApi, clientApi, twoIdsApi, otherDomainApi, noIdentityApi].map((api) => api?.stop()));
    files?.remove();
  });

  test('the whole lifecycle over HTTP/2, presenting the SVID from the Workload API', () => {
    const since = readPeerLog(peerLog).length;
    const metald = open({ spiffe: { socket: clientApi.socket } });
    try {
      runLifecycle(metald);
      const info = metald.transport.info();
      assert.equal(info.identity.spiffeId, 'spiffe://example.org/client');
      assert.equal(info.requests['http/1.1'], 0, 'every request went over HTTP/2');
      assert.ok(info.requests.h2 > 10);
    } finally {
      metald.close();
    }
    // The server saw our SVID, on one pooled HTTP/2 connection.
    assert.deepEqual(newHandshakes(since), [
      { serial: serialOf(clientSvid.cert), spiffe_id: 'spiffe://example.org/client', alpn: 'h2' },
    ]);
  });

  test('the socket may be given as a path, unix:PATH or unix://PATH', () => {
    for (const socket of [clientApi.path, `unix:${clientApi.path}`, `unix://${clientApi.path}`]) {
      const metald = open({ spiffe: { socket } });
      try {
        assert.equal(list(metald).totalCount, 0, socket);
      } finally {
        metald.close();
      }
    }
  });

  test('a rotated SVID or a changed bundle means a new connection; the old one is not reused', async () => {
    const metald = open({ spiffe: { socket: clientApi.socket } });
    try {
      const since = readPeerLog(peerLog).length;
      list(metald);
      list(metald);
      const before = newHandshakes(since);
      assert.equal(before.length, 1, 'one connection for both calls');
      assert.equal(before[0].serial, serialOf(clientSvid.cert));

      const rotated = ca.issue([{ uri: 'spiffe://example.org/client' }]);
      clientApi.rotate([rotated]);
      // The stream delivers the new SVID to the transport (in the I/O worker).
      const deadline = Date.now() + 10000;
      while (metald.transport.info().identity.serial !== new X509Certificate(rotated.cert).serialNumber) {
        assert.ok(Date.now() < deadline, 'the rotated SVID did not arrive within 10 s');
        await sleep(50);
      }
      list(metald);
      list(metald);
      const afterRotation = newHandshakes(since + 1);
      assert.deepEqual(afterRotation, [{ serial: serialOf(rotated.cert), spiffe_id: 'spiffe://example.org/client', alpn: 'h2' }]);
      clientSvid = rotated;

      // A changed bundle (an authority added), same SVID: a new connection too.
      const trustBefore = metald.transport.info().identity.trust;
      clientApi.rotate([rotated], `${ca.pem}${otherCa.pem}`);
      while (metald.transport.info().identity.trust === trustBefore) {
        assert.ok(Date.now() < deadline + 10000, 'the new bundle did not arrive within 10 s');
        await sleep(50);
      }
      list(metald);
      list(metald);
      assert.deepEqual(newHandshakes(since + 2), [
        { serial: serialOf(rotated.cert), spiffe_id: 'spiffe://example.org/client', alpn: 'h2' },
      ]);
    } finally {
      metald.close();
    }
  });

  test('the first SVID is used by default; tls.spiffe.spiffeId picks another', () => {
    const since = readPeerLog(peerLog).length;
    for (const [spiffeId, expected] of [
      [undefined, 'spiffe://example.org/first'],
      ['spiffe://example.org/second', 'spiffe://example.org/second'],
    ]) {
      const metald = open({ spiffe: { socket: twoIdsApi.socket, spiffeId } });
      try {
        assert.equal(list(metald).totalCount, 0);
        assert.equal(metald.transport.info().identity.spiffeId, expected);
      } finally {
        metald.close();
      }
    }
    assert.deepEqual(newHandshakes(since).map((line) => line.spiffe_id), ['spiffe://example.org/first', 'spiffe://example.org/second']);
  });

  test('a SPIFFE ID the Workload API does not offer is an error naming it and the offered ones', () => {
    assert.throws(
      () => open({ spiffe: { socket: twoIdsApi.socket, spiffeId: 'spiffe://example.org/third' } }),
      (error) => {
        assert.equal(error.code, 'ERR_METALD_SPIFFE_SVID');
        assert.match(error.message, /no X\.509-SVID with the SPIFFE ID spiffe:\/\/example\.org\/third/);
        assert.match(error.message, /offered: spiffe:\/\/example\.org\/first, spiffe:\/\/example\.org\/second/);
        assert.match(error.message, new RegExp(twoIdsApi.path));
        return true;
      },
    );
    assert.throws(() => open({ spiffe: { socket: twoIdsApi.socket, spiffeId: 'example.org/x' } }), /tls\.spiffe\.spiffeId/);
  });

  test('a server outside our trust domain is refused; serverSpiffeId accepts exactly that ID', () => {
    const since = readPeerLog(peerLog).length;
    const metald = open({ spiffe: { socket: otherDomainApi.socket } });
    try {
      const info = expectMetaldError(() => list(metald), 'transport', 'unauthenticated');
      assert.match(info.message, /spiffe:\/\/example\.org\/metald is outside our trust domain other\.org/);
    } finally {
      metald.close();
    }
    const wrongId = open({ spiffe: { socket: clientApi.socket }, serverSpiffeId: 'spiffe://example.org/not-metald' });
    try {
      const info = expectMetaldError(() => list(wrongId), 'transport', 'unauthenticated');
      assert.match(info.message, /is not the expected spiffe:\/\/example\.org\/not-metald/);
    } finally {
      wrongId.close();
    }
    const exact = open({ spiffe: { socket: clientApi.socket }, serverSpiffeId: 'spiffe://example.org/metald' });
    try {
      assert.equal(list(exact).totalCount, 0);
    } finally {
      exact.close();
    }
    assert.equal(newHandshakes(since).at(-1).spiffe_id, 'spiffe://example.org/client');
  });

  test('a missing socket is an error naming it, never a plaintext fallback', () => {
    const missing = `${files.dir}/no-such.sock`;
    const started = Date.now();
    assert.throws(
      () => open({ spiffe: { socket: missing } }),
      (error) => {
        assert.equal(error.name, 'SpiffeError');
        assert.equal(error.code, 'ERR_METALD_SPIFFE_NO_SOCKET');
        assert.match(error.message, new RegExp(`socket ${missing} does not exist .*refusing to fall back to plaintext`));
        return true;
      },
    );
    assert.ok(Date.now() - started < 5000);
  });

  test('a workload without an identity gets an error with the cause within the timeout', () => {
    const started = Date.now();
    assert.throws(
      () => open({ spiffe: { socket: noIdentityApi.socket, timeoutMs: 5000 } }),
      (error) => {
        assert.equal(error.code, 'ERR_METALD_SPIFFE');
        assert.match(error.message, new RegExp(`Workload API at unix:${noIdentityApi.path}: fetching an X\\.509-SVID: PermissionDenied`));
        return true;
      },
    );
    assert.ok(Date.now() - started < 5000, 'the cause arrives before the timeout');
  });

  test('a socket nobody answers on is an error within tls.spiffe.timeoutMs', async () => {
    const path = `${files.dir}/silent.sock`;
    // Accepts connections and never answers (no HTTP/2 settings), in this thread: the open
    // below blocks it only for the timeout, and the server needs no answer from this thread.
    const silent = createServer(() => {});
    await new Promise((done) => silent.listen(path, done));
    try {
      const started = Date.now();
      assert.throws(() => open({ spiffe: { socket: path, timeoutMs: 300 } }), /no X\.509-SVID within 300 ms/);
      const took = Date.now() - started;
      assert.ok(took >= 300 && took < 5000, `took ${took} ms`);
    } finally {
      silent.close();
    }
  });

  test('SPIFFE options are checked up front', () => {
    const cases = [
      [{ spiffe: { socket: clientApi.socket }, cert: clientSvid.cert }, /tls\.spiffe takes the identity.*tls\.cert/],
      [{ spiffe: { socket: clientApi.socket, sock: 'x' } }, /tls\.spiffe\.sock is not a SPIFFE option/],
      [{ spiffe: { socket: '' } }, /tls\.spiffe\.socket/],
      [{ spiffe: { socket: clientApi.socket, timeoutMs: -1 } }, /tls\.spiffe\.timeoutMs/],
      [{ spiffe: 'yes' }, /tls\.spiffe must be true/],
      [{ spiffe: { socket: clientApi.socket }, serverSpiffeId: 'spiffe://example.org' }, /bare trust domain/],
    ];
    for (const [tls, message] of cases) assert.throws(() => open(tls), message, JSON.stringify(tls));
  });
});

describe('Workload API rules (testdata/spiffe-workload-api.json)', () => {
  const vectors = JSON.parse(readFileSync(new URL('../../testdata/spiffe-workload-api.json', import.meta.url), 'utf8'));

  test('socket resolution: the setting, then UNKEY_METALD_SPIFFE_SOCKET, then SPIFFE_ENDPOINT_SOCKET, then the SPIRE default', () => {
    assert.ok(vectors.sockets.length > 0);
    for (const { setting, env, endpoint, path } of vectors.sockets) {
      assert.deepEqual(resolveSpiffeSocket(setting ?? undefined, env), { endpoint, path }, JSON.stringify({ setting, env }));
    }
  });

  test('SVID selection: the first by default, else the one asked for, else an error listing the offered', () => {
    assert.ok(vectors.svid_selection.length > 0);
    for (const { offered, requested, selected, error_contains: errorContains } of vectors.svid_selection) {
      const svids = offered.map((spiffeId) => ({ spiffeId }));
      const name = JSON.stringify({ offered, requested });
      if (selected !== undefined) {
        assert.equal(selectSvid(svids, requested).spiffeId, selected, name);
      } else {
        assert.throws(() => selectSvid(svids, requested), (error) => errorContains.every((part) => error.message.includes(part)), name);
      }
    }
  });
});
