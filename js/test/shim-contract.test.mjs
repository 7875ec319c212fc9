// What the transport needs from preview2-shim, checked one by one so that a shim upgrade that
// changes any of it fails here, loudly and by name, rather than as a broken call somewhere in
// the component. The transport uses the shim's public modules only (`io-worker`, `io`,
// `clocks`), none of its wasi:http classes; the shim is still pinned exactly (package.json)
// and this test fails when the installed version is not the pinned one.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';

import { types as shimTypes } from '@bytecodealliance/preview2-shim/http';
import { streams } from '@bytecodealliance/preview2-shim/io';
import * as ioWorker from '@bytecodealliance/preview2-shim/io-worker';

import { SHIM_CONTRACT, types } from '../src/transport.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const dispose = (resource) => resource[Symbol.dispose || Symbol.for('dispose')]();
const probe = new URL('./support/shim-probe-extension.mjs', import.meta.url);
const encoder = new TextEncoder();

function installedShimVersion() {
  const require = createRequire(import.meta.url);
  // The package's exports hide package.json; find it above a resolvable entry.
  let dir = require.resolve('@bytecodealliance/preview2-shim/http');
  while (!dir.endsWith('/preview2-shim')) dir = dir.slice(0, dir.lastIndexOf('/'));
  return JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')).version;
}

/** Reads an input stream to its end (or throws its error). */
function readAll(input) {
  const chunks = [];
  for (;;) {
    const ready = input.subscribe();
    ready.block();
    dispose(ready);
    try {
      chunks.push(Buffer.from(input.read(1024n)).toString());
    } catch (error) {
      if (error?.tag === 'closed') break;
      throw error;
    }
  }
  return chunks.join('');
}

describe('preview2-shim contract', () => {
  test('the installed shim is the exactly pinned version', () => {
    const pinned = pkg.dependencies['@bytecodealliance/preview2-shim'];
    assert.match(pinned, /^\d+\.\d+\.\d+$/, 'the shim must be pinned to an exact version');
    assert.equal(installedShimVersion(), pinned);
    assert.equal(SHIM_CONTRACT.version, pinned, 'src/transport.js names the version it was written for');
  });

  test('the sources use only the shim\'s public io-worker, io and clocks modules', () => {
    const dir = new URL('../src/', import.meta.url);
    const used = new Set();
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.js'))) {
      for (const [, module] of readFileSync(new URL(file, dir), 'utf8').matchAll(/from '(@bytecodealliance\/preview2-shim[^']*)'/g)) {
        used.add(module);
      }
    }
    assert.deepEqual([...used].sort(), [
      '@bytecodealliance/preview2-shim/clocks',
      '@bytecodealliance/preview2-shim/io',
      '@bytecodealliance/preview2-shim/io-worker',
    ]);
    for (const [name, value] of Object.entries(types)) {
      if (typeof shimTypes[name] === 'function' && typeof value === 'function' && /^class\b/.test(String(value))) {
        assert.notEqual(value, shimTypes[name], name);
        assert.ok(!(value.prototype instanceof shimTypes[name]), `${name} is not a subclass of the shim's`);
      }
    }
  });

  test('the io-worker API has the functions the transport calls', () => {
    for (const name of SHIM_CONTRACT.ioWorker) assert.equal(typeof ioWorker[name], 'function', `io-worker ${name}`);
  });

  test('the worker-extension context makes futures and streams the main thread can use', () => {
    const context = ioWorker.callExtension(probe, 'context', []);
    for (const name of SHIM_CONTRACT.extensionContext) assert.equal(context[name], 'function', `context.${name}`);

    const futureId = ioWorker.callExtension(probe, 'future', []);
    const pollable = ioWorker.futureSubscribe(futureId, {});
    pollable.block();
    dispose(pollable);
    assert.deepEqual(ioWorker.futureTakeValue(futureId), { tag: 'ok', val: { tag: 'ok', val: { answer: 42 } } });
    ioWorker.futureDispose(futureId);

    const input = ioWorker.inputStreamCreate(ioWorker.callExtension(probe, 'stream-roundtrip', []));
    assert.ok(input instanceof streams.InputStream, 'a wasi:io input stream of the shim (what jco checks)');
    assert.equal(readAll(input), 'from the worker');
    dispose(input);
  });

  test('a failed worker stream reaches http-error-code through wasi:io to-debug-string', () => {
    const input = ioWorker.inputStreamCreate(ioWorker.callExtension(probe, 'failing-stream', []));
    let failure;
    try {
      readAll(input);
    } catch (error) {
      failure = error;
    }
    dispose(input);
    assert.equal(failure?.tag, 'last-operation-failed');
    assert.match(failure.val.toDebugString(), /ERR_METALD_BETWEEN_BYTES_TIMEOUT: /);
    assert.deepEqual(types.httpErrorCode(failure.val), { tag: 'connection-read-timeout' });
  });

  test('an outgoing body is a wasi:io output stream into the worker; finish checks content-length', () => {
    for (const [declared, written, ok] of [
      [5, 'hello', true],
      [5, 'hey', false],
      [undefined, 'any length', true],
    ]) {
      const headers = declared === undefined ? [] : [['content-length', encoder.encode(String(declared))]];
      const request = new types.OutgoingRequest(types.Fields.fromList(headers));
      const body = request.body();
      const stream = body.write();
      assert.ok(stream instanceof streams.OutputStream, 'a wasi:io output stream of the shim (what jco checks)');
      stream.blockingWriteAndFlush(encoder.encode(written));
      dispose(stream);
      if (ok) {
        types.OutgoingBody.finish(body, undefined);
      } else {
        assert.throws(
          () => types.OutgoingBody.finish(body, undefined),
          (error) => error.tag === 'HTTP-request-body-size' && error.val === 3n,
        );
      }
    }
  });
});
