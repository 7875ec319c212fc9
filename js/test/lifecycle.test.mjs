// The component over plain HTTP against `metald-host dev-server`: the whole lifecycle, the
// allow-list, deadlines, and how errors read.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createMetald, errorInfo, metaldError } from '../src/index.js';
import { startDevServer } from './support/dev-server.mjs';
import { expectMetaldError, runLifecycle } from './support/lifecycle.mjs';

const identity = { userId: 'alice', tenantId: 'acme' };

describe('plain HTTP', () => {
  let server;
  let metald;

  before(async () => {
    server = await startDevServer();
    metald = createMetald({ server: server.url, ...identity });
  });

  after(async () => {
    metald?.close();
    await server?.stop();
  });

  test('create, boot, info, list, pause, resume, reboot, shutdown, delete', () => {
    runLifecycle(metald);
  });

  test('the JSON codec works too', () => {
    const json = createMetald({ server: server.url, ...identity, codec: 'json' });
    try {
      const { vmId } = json.client.createVm(json.templates.templateConfig('minimal'));
      assert.equal(json.client.getVmInfo(vmId).state, 'created');
      assert.deepEqual(json.client.deleteVm({ vmId, force: true }), { success: true });
    } finally {
      json.close();
    }
  });

  test('errors are ComponentErrors carrying the metald error variant', () => {
    let thrown;
    try {
      metald.client.getVmInfo('no-such-vm');
    } catch (error) {
      thrown = error;
    }
    assert.ok(thrown instanceof Error);
    assert.equal(thrown.name, 'ComponentError');
    assert.equal(thrown.payload.tag, 'connect');
    assert.equal(thrown.payload.val.code, 'not-found');
    assert.equal(thrown.payload.val.httpStatus, 404);
    assert.equal(metaldError(thrown), thrown.payload);
    assert.match(thrown.message, /^not_found: .*no-such-vm/, 'the component describes it');
    assert.equal(errorInfo(new Error('plain')), undefined);
  });

  test('a host outside the allow-list is refused (permission_denied)', () => {
    // Same server, reached by another name: reachable, but not on the allow-list.
    const elsewhere = metald.openClient({ server: server.url.replace('127.0.0.1', 'localhost') });
    const denied = expectMetaldError(() => elsewhere.listVms({ stateFilter: [], pageSize: 0, pageToken: '' }), 'transport', 'permission_denied');
    assert.match(denied.message, /denied by the host's outbound policy/);
    assert.equal(denied.outcomeUnknown, false);
    const port = new URL(server.url).port;
    const other = metald.openClient({ server: `http://127.0.0.1:${Number(port) === 1 ? 2 : 1}` });
    expectMetaldError(() => other.bootVm('x'), 'transport', 'permission_denied');
    assert.ok(metald.transport.stats.denied >= 2);
    // allowHosts extends the list.
    const wider = createMetald({ server: 'http://127.0.0.1:1', ...identity, allowHosts: [`localhost:${port}`] });
    try {
      const client = wider.openClient({ server: server.url.replace('127.0.0.1', 'localhost') });
      assert.equal(typeof client.listVms({ stateFilter: [], pageSize: 0, pageToken: '' }).totalCount, 'number');
    } finally {
      wider.close();
    }
  });

  test('a server that is down is unavailable', () => {
    const down = createMetald({ server: 'http://127.0.0.1:1', ...identity, retries: 0 });
    try {
      const info = expectMetaldError(() => down.client.listVms({ stateFilter: [], pageSize: 0, pageToken: '' }), 'transport', 'unavailable');
      assert.match(info.message, /connection refused/);
    } finally {
      down.close();
    }
  });

  test('bad options are reported before anything is sent', () => {
    const info = expectMetaldError(
      () => createMetald({ server: server.url, userId: 'not ok', tenantId: 'acme' }),
      'invalid-config',
      'invalid_argument',
    );
    assert.deepEqual(info.issues.map((issue) => issue.field), ['user-id']);
  });
});

describe('deadlines', () => {
  let server;

  before(async () => {
    server = await startDevServer(['--fault', 'GetVmInfo=latency:3s']);
  });

  after(async () => {
    await server?.stop();
  });

  test('a slow call fails with deadline_exceeded at the deadline', () => {
    const metald = createMetald({ server: server.url, ...identity, timeoutMs: 400, retries: 0 });
    try {
      const started = Date.now();
      expectMetaldError(() => metald.client.getVmInfo('any'), 'transport', 'deadline_exceeded');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 350 && elapsed < 2500, `took ${elapsed} ms`);
      // The client is still usable afterwards.
      assert.equal(metald.client.listVms({ stateFilter: [], pageSize: 0, pageToken: '' }).totalCount, 0);
    } finally {
      metald.close();
    }
  });
});

describe('HTTP/2 with prior knowledge (h2c)', () => {
  let server;
  let slow;

  before(async () => {
    [server, slow] = await Promise.all([startDevServer(), startDevServer(['--fault', 'GetVmInfo=latency:3s'])]);
  });

  after(async () => {
    await Promise.all([server?.stop(), slow?.stop()]);
  });

  test('the whole lifecycle over h2c; without h2c, HTTP/1.1', () => {
    const metald = createMetald({ server: server.url, ...identity, h2c: true });
    try {
      runLifecycle(metald);
      const { requests } = metald.transport.info();
      assert.equal(requests['http/1.1'], 0);
      assert.ok(requests.h2 > 10, JSON.stringify(requests));
    } finally {
      metald.close();
    }
    const plain = createMetald({ server: server.url, ...identity });
    try {
      plain.client.listVms({ stateFilter: [], pageSize: 0, pageToken: '' });
      assert.deepEqual(plain.transport.info().requests, { h2: 0, 'http/1.1': 1 });
    } finally {
      plain.close();
    }
  });

  test('deadlines and refused connections over h2c', () => {
    const metald = createMetald({ server: slow.url, ...identity, h2c: true, timeoutMs: 400, retries: 0 });
    try {
      const started = Date.now();
      expectMetaldError(() => metald.client.getVmInfo('any'), 'transport', 'deadline_exceeded');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 350 && elapsed < 2500, `took ${elapsed} ms`);
      assert.equal(metald.client.listVms({ stateFilter: [], pageSize: 0, pageToken: '' }).totalCount, 0);
    } finally {
      metald.close();
    }
    const down = createMetald({ server: 'http://127.0.0.1:1', ...identity, h2c: true, retries: 0 });
    try {
      const info = expectMetaldError(() => down.client.listVms({ stateFilter: [], pageSize: 0, pageToken: '' }), 'transport', 'unavailable');
      assert.match(info.message, /connection refused/);
    } finally {
      down.close();
    }
  });

  test('http2 and h2c must be booleans', () => {
    assert.throws(() => createMetald({ server: server.url, ...identity, h2c: 'yes' }), /h2c must be a boolean/);
    assert.throws(() => createMetald({ server: server.url, ...identity, http2: 1 }), /http2 must be a boolean/);
  });
});
