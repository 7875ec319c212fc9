// The `compression` option against `metald-host dev-server --request-log`: the dev server
// compresses every answer it may (as metald does), so what the client asks for is what it gets.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createMetald } from '../src/index.js';
import { startDevServer } from './support/dev-server.mjs';

const identity = { userId: 'alice', tenantId: 'acme' };

/** The JSON lines of a dev server's `--request-log` file (none yet: empty). */
function readRequestLog(path) {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

describe('compression', () => {
  let dir;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'metald-js-compression-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [compression, accept, encoding] of [
    [undefined, 'gzip', 'gzip'],
    ['gzip', 'gzip', 'gzip'],
    ['identity', 'identity', null],
  ]) {
    test(`compression ${compression ?? '(default)'} asks for ${accept} and gets ${encoding ?? 'no encoding'}`, async () => {
      const log = join(dir, `requests-${compression ?? 'default'}.jsonl`);
      const server = await startDevServer(['--request-log', log]);
      const metald = createMetald({ server: server.url, ...identity, ...(compression ? { compression } : {}) });
      try {
        assert.equal(metald.client.options().compression, accept);
        const { vmId } = metald.client.createVm(metald.templates.templateConfig('minimal'));
        assert.equal(metald.client.getVmInfo(vmId).vmId, vmId);
      } finally {
        metald.close();
        await server.stop();
      }
      const records = readRequestLog(log);
      assert.deepEqual(records.map((r) => r.rpc), ['CreateVm', 'GetVmInfo']);
      for (const r of records) {
        assert.deepEqual([r.status, r.accept_encoding, r.content_encoding], [200, accept, encoding], r.rpc);
      }
    });
  }

  test('a bad compression is a TypeError naming the value and the option', () => {
    assert.throws(
      () => createMetald({ server: 'http://127.0.0.1:1', ...identity, compression: 'br' }),
      (error) => error instanceof TypeError && /"br" is not one of the cases of compression/.test(error.message),
    );
  });
});
