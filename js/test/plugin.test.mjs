// The example plugin (examples/plugin: a wasi:cli/run component importing metald:client)
// composed with the client component by `metald-host plugin compose`, transpiled by jco, and
// run in Node with this package's wasi:http transport (test/support/plugin-runner.mjs): a
// whole reconcile against the dev server, plain and over file mTLS, and the allow-list
// refusing a plugin that asks the SDK for another host.
//
//   METALD_PLUGIN_WASM   the plugin (default ../target/wasm32-wasip2/release/metald-example-plugin.wasm,
//                        built by `cargo build -p metald-example-plugin --target wasm32-wasip2 --release`)

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { jcoCli } from '../scripts/jco-cli.mjs';
import { hostBin, startDevServer } from './support/dev-server.mjs';
import { Ca, loopback, tempDir } from './support/pki.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const runner = join(here, 'support/plugin-runner.mjs');
const pluginWasm = process.env.METALD_PLUGIN_WASM
  ? resolve(process.env.METALD_PLUGIN_WASM)
  : resolve(here, '../../target/wasm32-wasip2/release/metald-example-plugin.wasm');


/** Runs the transpiled plugin allowing `allowed`; `{ code, stdout, stderr }`. */
function runPlugin(generated, allowed, args, env = {}) {
  const result = spawnSync(process.execPath, [runner, generated, allowed, ...args], {
    encoding: 'utf8',
    timeout: 60000,
    env: { ...process.env, ...env },
  });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const linesStarting = (stdout, word) => stdout.split('\n').filter((line) => line.split(' ')[0] === word);

describe('a composed plugin transpiled by jco', () => {
  let files;
  let generated;

  before(() => {
    assert.ok(
      existsSync(pluginWasm),
      `${pluginWasm} is missing: build it with \`cargo build -p metald-example-plugin --target wasm32-wasip2 --release\` (scripts/test.sh does), or set METALD_PLUGIN_WASM`,
    );
    files = tempDir();
    const composed = join(files.dir, 'composed.wasm');
    execFileSync(hostBin, ['plugin', 'compose', pluginWasm, '--output', composed], { stdio: 'inherit' });
    generated = join(files.dir, 'generated');
    execFileSync(
      process.execPath,
      [jcoCli(), 'transpile', composed, '--out-dir', generated, '--name', 'plugin', '--instantiation', 'sync', '--quiet'],
      { stdio: 'inherit' },
    );
  });

  after(() => files?.remove());

  test('reconciles: creates what is missing, then leaves running VMs alone', async () => {
    const server = await startDevServer();
    try {
      const args = ['--server', server.url, '--user', 'alice', '--tenant', 'acme', '--count', '2', '--template', 'minimal'];
      const first = runPlugin(generated, server.url, args);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(linesStarting(first.stdout, 'created').length, 2, first.stdout);
      assert.match(first.stdout, /^pool minimal: 2 of 2 running \(created 2, booted 0, resumed 0, left alone 0\)$/m);
      const second = runPlugin(generated, server.url, args);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(linesStarting(second.stdout, 'left-alone').length, 2, second.stdout);
      assert.equal(linesStarting(second.stdout, 'created').length, 0, second.stdout);
    } finally {
      await server.stop();
    }
  });

  test('a plugin that asks the SDK for another host is refused by the allow-list', async () => {
    const server = await startDevServer();
    try {
      const args = ['--server', 'http://127.0.0.1:9', '--user', 'alice', '--tenant', 'acme', '--count', '1'];
      const run = runPlugin(generated, server.url, args);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /listing VMs: permission_denied: .*request denied by the host's outbound policy/);
      assert.match(run.stderr, /plugin-runner: 1 request\(s\) denied by the allow-list/);
      assert.equal(run.stdout, '');
    } finally {
      await server.stop();
    }
  });

  test('reconciles over file mTLS with the client certificate in the transport', async () => {
    const ca = new Ca('example.org');
    const serverLeaf = ca.issue(loopback);
    const clientLeaf = ca.issue([{ uri: 'spiffe://example.org/plugin' }]);
    const server = await startDevServer([
      '--tls-mode',
      'file',
      '--tls-cert',
      files.write('server.pem', serverLeaf.cert),
      '--tls-key',
      files.write('server.key', serverLeaf.key),
      '--tls-client-ca',
      files.write('ca.pem', ca.pem),
    ]);
    try {
      assert.match(server.url, /^https:/);
      const tls = JSON.stringify({
        cert: files.write('client.pem', clientLeaf.cert),
        key: files.write('client.key', clientLeaf.key),
        ca: files.write('ca.pem', ca.pem),
      });
      const args = ['--server', server.url, '--user', 'alice', '--tenant', 'acme', '--count', '1'];
      const run = runPlugin(generated, server.url, args, { METALD_PLUGIN_TLS: tls });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(linesStarting(run.stdout, 'created').length, 1, run.stdout);
      const without = runPlugin(generated, server.url, args);
      assert.equal(without.code, 1, 'no client certificate: refused by the server');
      assert.match(without.stderr, /listing VMs: (unauthenticated|unavailable)/);
    } finally {
      await server.stop();
    }
  });
});
