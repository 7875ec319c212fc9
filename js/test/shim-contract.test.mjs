// The preview2-shim internals the transport relies on (see README, "How it works"), checked
// one by one so that a shim upgrade that changes any of them fails here, loudly and by name,
// rather than as a broken call somewhere in the component. The shim is pinned exactly in
// package.json; this test also fails when the installed version is not the pinned one.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';

import { types as shimTypes } from '@bytecodealliance/preview2-shim/http';
import * as ioWorker from '@bytecodealliance/preview2-shim/io-worker';

import { SHIM_CONTRACT, types } from '../src/transport.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const dispose = (resource) => resource[Symbol.dispose || Symbol.for('dispose')]();

function installedShimVersion() {
  const require = createRequire(import.meta.url);
  // The package's exports hide package.json; find it next to a resolvable entry.
  let dir = require.resolve('@bytecodealliance/preview2-shim/http');
  while (!dir.endsWith('/preview2-shim')) dir = dir.slice(0, dir.lastIndexOf('/'));
  return JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')).version;
}

describe('preview2-shim contract', () => {
  test('the installed shim is the exactly pinned version', () => {
    const pinned = pkg.dependencies['@bytecodealliance/preview2-shim'];
    assert.match(pinned, /^\d+\.\d+\.\d+$/, 'the shim must be pinned to an exact version');
    assert.equal(installedShimVersion(), pinned);
    assert.equal(SHIM_CONTRACT.version, pinned, 'src/transport.js names the version it was written for');
  });

  test('the io-worker API has the functions the transport calls', () => {
    for (const name of SHIM_CONTRACT.ioWorker) assert.equal(typeof ioWorker[name], 'function', `io-worker ${name}`);
  });

  test('wasi:http/types has the classes the transport subclasses or reuses', () => {
    for (const name of SHIM_CONTRACT.httpTypes) assert.equal(typeof shimTypes[name], 'function', `types.${name}`);
    for (const name of ['FutureIncomingResponse', 'IncomingResponse', 'IncomingBody']) {
      // Constructed with no arguments by our subclasses.
      assert.doesNotThrow(() => Reflect.construct(shimTypes[name], []), `new ${name}()`);
    }
    assert.equal(typeof shimTypes.IncomingBody.finish, 'function', 'static IncomingBody.finish');
  });

  test('OutgoingRequest makes its body stream in the worker at construction, and write() returns it', () => {
    const request = new types.OutgoingRequest(new types.Fields());
    const body = request.body();
    const stream = body.write();
    const id = ioWorker.outputStreamId(stream);
    assert.equal(typeof id, 'number');
    const isNodeStream = ioWorker.callExtension(new URL('./support/shim-probe-extension.mjs', import.meta.url), 'is-node-stream', [id]);
    assert.equal(isNodeStream, true, 'worker streams are Node streams (the request body is piped)');
    dispose(stream);
    types.OutgoingBody.finish(body, undefined);
  });

  test('the worker-extension context and its futures and streams', () => {
    const probe = new URL('./support/shim-probe-extension.mjs', import.meta.url);
    const context = ioWorker.callExtension(probe, 'context', []);
    for (const name of SHIM_CONTRACT.extensionContext) assert.equal(context[name], 'function', `context.${name}`);

    const futureId = ioWorker.callExtension(probe, 'future', []);
    const pollable = ioWorker.futureSubscribe(futureId, {});
    pollable.block();
    dispose(pollable);
    assert.deepEqual(ioWorker.futureTakeValue(futureId), { tag: 'ok', val: { tag: 'ok', val: { answer: 42 } } });
    ioWorker.futureDispose(futureId);

    const streamId = ioWorker.callExtension(probe, 'stream-roundtrip', []);
    const input = ioWorker.inputStreamCreate(streamId);
    const chunks = [];
    for (;;) {
      const ready = input.subscribe();
      ready.block();
      dispose(ready);
      try {
        chunks.push(Buffer.from(input.read(1024n)).toString());
      } catch (error) {
        assert.equal(error?.tag, 'closed');
        break;
      }
    }
    dispose(input);
    assert.equal(chunks.join(''), 'from the worker');
  });
});
