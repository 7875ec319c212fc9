// The npm package as a user gets it: `npm pack`, installed into an empty directory outside
// the repository, then used from there (test/support/package-smoke.mjs): the transpiled
// component and everything it needs must be inside the tarball.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { hostBin } from './support/dev-server.mjs';

const packageDir = resolve(fileURLToPath(new URL('..', import.meta.url)));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const quiet = ['--no-audit', '--no-fund', '--loglevel=error'];

describe('the packed tarball', () => {
  let dir;
  let tarball;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'metald-js-pack-'));
    // Without the prepack build: `npm test` built generated/ already (pretest), and rebuilding
    // it here would pull it from under the test files running alongside this one.
    const [{ filename, files }] = JSON.parse(
      execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir, ...quiet], {
        cwd: packageDir,
        encoding: 'utf8',
      }),
    );
    tarball = { path: join(dir, filename), files: files.map((file) => file.path) };
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('carries the transpiled component, the Workload API proto and the sources', () => {
    for (const path of ['generated/metald.js', 'generated/metald.core.wasm', 'generated/BUILD_INFO.json', 'generated/workload.proto', 'src/index.js', 'src/worker-extension.js', 'package.json']) {
      assert.ok(tarball.files.includes(path), `${path} is in the tarball (${tarball.files.length} files)`);
    }
    assert.ok(!tarball.files.some((path) => path.startsWith('test/') || path.startsWith('node_modules/')));
  });

  test('installed into an empty directory, it makes a template call and runs a lifecycle', () => {
    const app = join(dir, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'app', private: true, type: 'module' })}\n`);
    // The dependencies come from npm's cache where `npm ci` put them.
    execFileSync(npm, ['install', '--prefer-offline', ...quiet, tarball.path], { cwd: app, stdio: ['ignore', 'ignore', 'inherit'] });
    assert.ok(readdirSync(join(app, 'node_modules', '@metald', 'client', 'generated')).includes('metald.core.wasm'));
    copyFileSync(fileURLToPath(new URL('./support/package-smoke.mjs', import.meta.url)), join(app, 'smoke.mjs'));
    const output = execFileSync(process.execPath, ['smoke.mjs'], {
      cwd: app,
      encoding: 'utf8',
      env: { ...process.env, METALD_HOST_BIN: hostBin },
    });
    const results = JSON.parse(output.trim().split('\n').at(-1));
    assert.ok(results.resolved.startsWith(`file://${app}/node_modules/@metald/client/`), results.resolved);
    assert.equal(results.standardVcpus, 2);
    assert.deepEqual(results.http1, { h2: 0, 'http/1.1': 5 });
    assert.deepEqual(results.h2c, { h2: 5, 'http/1.1': 0 });
  });
});
