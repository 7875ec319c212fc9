// A full VM lifecycle against `metald-host dev-server`, driven by `buf curl` (the Buf CLI's
// Connect client, from the npm package @bufbuild/buf) with the project's proto as its schema:
// a Connect implementation this project did not write, over HTTP/1.1 and h2c.

import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { startDevServer } from '../../../js/test/support/dev-server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const buf = resolve(here, '../node_modules/.bin/buf');
const schema = resolve(here, '../../../proto');
const service = 'metal.vmprovisioner.v1.VmService';

/** Runs one RPC with `buf curl`; resolves to `{ ok, body }` (body: the JSON it printed). */
async function rpc(server, method, data, { user = 'alice', tenant = 'acme', http2 = false } = {}) {
  const args = ['curl', '--schema', schema, '--protocol', 'connect', '-d', JSON.stringify(data)];
  if (user !== null) args.push('-H', `Authorization: Bearer dev_user_${user}`);
  if (tenant !== null) args.push('-H', `X-Tenant-ID: ${tenant}`);
  if (http2) args.push('--http2-prior-knowledge');
  args.push(`${server.url}/${service}/${method}`);
  try {
    const { stdout } = await promisify(execFile)(buf, args);
    return { ok: true, body: JSON.parse(stdout) };
  } catch (error) {
    if (typeof error.code !== 'number') throw error;
    return { ok: false, body: JSON.parse(error.stderr) };
  }
}

const config = {
  cpu: { vcpuCount: 2, maxVcpuCount: 4 },
  memory: { sizeBytes: String(512 << 20), maxSizeBytes: String(1024 << 20) },
  boot: { kernelPath: '/opt/vm-assets/vmlinux', kernelArgs: 'console=ttyS0' },
  storage: [{ id: 'rootfs', path: '/opt/vm-assets/rootfs.ext4', isRootDevice: true }],
  metadata: { purpose: 'interop' },
};

for (const http2 of [false, true]) {
  describe(`buf curl over ${http2 ? 'h2c' : 'HTTP/1.1'}`, () => {
    let server;
    before(async () => {
      server = await startDevServer();
    });
    after(async () => {
      await server?.stop();
    });
    const call = (method, data, options = {}) => rpc(server, method, data, { http2, ...options });

    test('drives a VM through its whole lifecycle', async () => {
      const created = await call('CreateVm', { config, customerId: 'alice', vmId: 'ignored' });
      assert.equal(created.ok, true, JSON.stringify(created.body));
      const vmId = created.body.vmId;
      assert.match(vmId, /^ud-[0-9a-f]{16}$/);
      assert.equal(created.body.state, 'VM_STATE_CREATED');

      const booted = await call('BootVm', { vmId });
      assert.deepEqual(booted.body, { success: true, state: 'VM_STATE_RUNNING' });
      const info = await call('GetVmInfo', { vmId });
      assert.equal(info.body.state, 'VM_STATE_RUNNING');
      assert.equal(info.body.config.cpu.vcpuCount, 2);
      assert.equal(info.body.config.metadata.purpose, 'interop');
      assert.ok(info.body.networkInfo.ipAddress, JSON.stringify(info.body));

      for (const [method, state] of [
        ['PauseVm', 'VM_STATE_PAUSED'],
        ['ResumeVm', 'VM_STATE_RUNNING'],
        ['RebootVm', 'VM_STATE_RUNNING'],
        ['ShutdownVm', 'VM_STATE_SHUTDOWN'],
      ]) {
        const answer = await call(method, { vmId });
        assert.deepEqual(answer.body, { success: true, state }, method);
      }
      const deleted = await call('DeleteVm', { vmId });
      assert.deepEqual(deleted.body, { success: true });
      const gone = await call('GetVmInfo', { vmId });
      assert.equal(gone.ok, false);
      assert.equal(gone.body.code, 'not_found');
    });

    test('pages through ListVms newest first', async () => {
      const ids = [];
      for (let i = 0; i < 3; i += 1) {
        ids.push((await call('CreateVm', { config, customerId: 'pager' }, { user: 'pager' })).body.vmId);
      }
      const seen = [];
      let pageToken = '';
      do {
        const page = await call('ListVms', { pageSize: 2, pageToken }, { user: 'pager' });
        assert.equal(page.ok, true, JSON.stringify(page.body));
        assert.equal(page.body.totalCount, 3);
        seen.push(...page.body.vms.map((vm) => vm.vmId));
        pageToken = page.body.nextPageToken ?? '';
      } while (pageToken);
      assert.deepEqual(seen, ids.reverse());
    });

    test('refuses a refused transition and a missing identity with metald codes', async () => {
      const { vmId } = (await call('CreateVm', { config, customerId: 'alice' })).body;
      const paused = await call('PauseVm', { vmId });
      assert.equal(paused.body.code, 'failed_precondition');
      const anonymous = await call('ListVms', {}, { user: null });
      assert.equal(anonymous.body.code, 'unauthenticated');
      const noTenant = await call('ListVms', {}, { tenant: null });
      assert.deepEqual(noTenant.body, { code: 'unauthenticated', message: 'tenant ID is required' });
    });
  });
}
