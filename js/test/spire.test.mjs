// SPIFFE mode against a real SPIRE server and agent (tools/spire/spire.sh, SPIRE v1.13.3): the
// agent attests this Node process by its executable path and serves its X.509-SVID over the
// real Workload API; the dev server runs in file mode with an SVID minted by the same SPIRE CA
// (`spire.sh mint`), requiring client certificates from the trust bundle, and logs each client
// handshake (--peer-log). Without built SPIRE binaries this skips with the reason, except
// under CI=true, where it fails.
//
//   METALD_SPIRE_DIR   built spire-server/spire-agent (default ../target/spire/<version>)

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { createMetald } from '../src/index.js';
import { startDevServer } from './support/dev-server.mjs';
import { runLifecycle } from './support/lifecycle.mjs';
import { tempDir } from './support/pki.mjs';
import { readPeerLog, serialHex } from './support/workload-api.mjs';

const spireSh = resolve(fileURLToPath(new URL('../../tools/spire/spire.sh', import.meta.url)));
const identity = { userId: 'alice', tenantId: 'acme' };
const noPage = { stateFilter: [], pageSize: 0, pageToken: '' };
const SVID_TTL_SECONDS = 20;

function spire(args) {
  return spawnSync(spireSh, args, { encoding: 'utf8', timeout: 120000 });
}

/** Starts SPIRE with our entry, or returns the reason it cannot run here. */
function startSpire() {
  const started = spire([
    'start',
    '--entry',
    `id=/node-client,path=${realpathSync(process.execPath)},ttl=${SVID_TTL_SECONDS}s`,
  ]);
  if (started.status === 3) return { unavailable: started.stderr.trim() };
  assert.equal(started.status, 0, `spire.sh start failed: ${started.stderr}`);
  return { info: JSON.parse(started.stdout) };
}

const first = startSpire();
const skip = first.unavailable && process.env.CI !== 'true' ? `SPIRE is not built: ${first.unavailable}` : false;

describe('SPIFFE mode against real SPIRE', { skip }, () => {
  let info;
  let files;
  let server;
  let peerLog;

  before(async () => {
    assert.ok(!first.unavailable, `SPIRE is required under CI=true: ${first.unavailable}`);
    info = first.info;
    files = tempDir();
    const minted = spire(['mint', '--dir', info.dir, '--spiffe-id', `spiffe://${info.trust_domain}/metald`, '--out', files.dir]);
    assert.equal(minted.status, 0, `spire.sh mint failed: ${minted.stderr}`);
    const svid = JSON.parse(minted.stdout);
    peerLog = files.write('peers.jsonl', '');
    server = await startDevServer([
      '--tls-mode', 'file',
      '--tls-cert', svid.cert,
      '--tls-key', svid.key,
      '--tls-client-ca', svid.bundle,
      '--peer-log', peerLog,
    ]);
  });

  after(async () => {
    await server?.stop();
    if (info) spire(['stop', info.dir]);
    files?.remove();
  });

  test('the whole lifecycle with the SVID SPIRE issued to this process, over HTTP/2', () => {
    const metald = createMetald({ server: server.url, ...identity, tls: { spiffe: { socket: info.workload_endpoint } } });
    let serial;
    try {
      runLifecycle(metald);
      const current = metald.transport.info();
      assert.equal(current.identity.spiffeId, `spiffe://${info.trust_domain}/node-client`);
      assert.equal(current.requests['http/1.1'], 0);
      serial = serialHex(current.identity.serial);
    } finally {
      metald.close();
    }
    const lines = readPeerLog(peerLog);
    assert.ok(lines.length >= 1);
    for (const line of lines) {
      assert.equal(line.spiffe_id, `spiffe://${info.trust_domain}/node-client`);
      assert.equal(line.alpn, 'h2');
    }
    assert.ok(lines.some((line) => line.serial === serial), JSON.stringify({ lines, serial }));
  });

  test('the SVID SPIRE rotates is presented by new connections', async () => {
    const metald = createMetald({ server: server.url, ...identity, tls: { spiffe: { socket: info.workload_socket } } });
    try {
      metald.client.listVms(noPage);
      const before = metald.transport.info().identity.serial;
      // SPIRE renews an X.509-SVID when half of its lifetime has passed.
      const deadline = Date.now() + SVID_TTL_SECONDS * 1000 + 10000;
      while (metald.transport.info().identity.serial === before) {
        assert.ok(Date.now() < deadline, 'SPIRE did not rotate the SVID in time');
        await sleep(200);
      }
      const rotated = metald.transport.info().identity.serial;
      const since = readPeerLog(peerLog).length;
      metald.client.listVms(noPage);
      assert.deepEqual(readPeerLog(peerLog).slice(since).map((line) => line.serial), [serialHex(rotated)]);
      // The bundle SPIRE serves verifies the new certificate (a sanity check of the fixture).
      assert.ok(new X509Certificate(readFileSync(info.bundle)).ca);
    } finally {
      metald.close();
    }
  });
});
