// Answers whose content used to be dropped without a word: states and network modes newer
// than the schema (protobuf enums are open) and gzip bodies of several members.

import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';

import { createMetald, errorInfo, NETWORK_MODES, VM_STATES } from '../src/index.js';
import { startDevServer } from './support/dev-server.mjs';

const identity = { userId: 'alice', tenantId: 'acme' };
const offline = { server: 'http://127.0.0.1:9', ...identity };

describe('states and modes this SDK does not know', () => {
  let server;

  before(async () => {
    server = await startDevServer(['--fault', 'GetVmInfo=state:5', '--fault', 'ListVms=state:5']);
  });

  after(async () => {
    await server?.stop();
  });

  for (const codec of ['proto', 'json']) {
    test(`a server answering state 5 shows 5 (${codec})`, () => {
      const metald = createMetald({ server: server.url, ...identity, codec });
      try {
        const { vmId } = metald.client.createVm(metald.templates.templateConfig('minimal'));
        metald.client.bootVm(vmId);
        assert.equal(metald.client.getVmInfo(vmId).state, 5);
        const page = metald.client.listVms({ stateFilter: [], pageSize: 0, pageToken: '' });
        assert.equal(page.vms.find((vm) => vm.vmId === vmId).state, 5);
        assert.deepEqual(metald.client.listAllVms(['running']), []);
        assert.equal(metald.client.listAllVms([]).find((vm) => vm.vmId === vmId).state, 5);
      } finally {
        metald.close();
      }
    });
  }

  test('names, numbers and jco variants on input; names or numbers on output', () => {
    const metald = createMetald(offline);
    try {
      assert.deepEqual(VM_STATES, ['unspecified', 'created', 'running', 'paused', 'shutdown']);
      assert.equal(NETWORK_MODES[2], 'ipv4-only');
      const request = metald.codec.encodeRequest(metald.client.options(), {
        tag: 'list-vms',
        val: { stateFilter: ['running', 5, 3, { tag: 'created' }], pageSize: 0, pageToken: '' },
      });
      assert.deepEqual([...request.body.subarray(0, 6)], [0x0a, 0x04, 2, 5, 3, 1]);
      const config = new metald.VmConfigBuilder();
      config.addNetwork('eth9', '', 9);
      config.addNetwork('eth2', '', 2);
      const built = config.build();
      assert.deepEqual(
        built.network.map((nic) => [nic.mode, nic.ipv4Config === undefined, nic.ipv6Config === undefined]),
        [
          [9, true, true],
          ['ipv4-only', false, true],
        ],
      );
      const file = metald.configFile.renderConfigFile(metald.configFile.fromVmConfig(built, 'n', ''));
      assert.match(file, /"mode": 9/);
      assert.equal(metald.configFile.parseConfigFile(file).network[0].mode, 9);
    } finally {
      metald.close();
    }
  });
});

describe('gzip bodies of several members', () => {
  test('a dev server answering in two gzip members is read whole', async () => {
    const server = await startDevServer(['--fault', 'GetVmInfo=gzip-members', '--fault', 'ListVms=gzip-members']);
    try {
      for (const codec of ['proto', 'json']) {
        const metald = createMetald({ server: server.url, ...identity, codec });
        try {
          const ids = [0, 1].map(() => metald.client.createVm(metald.templates.templateConfig('minimal')).vmId);
          metald.client.bootVm(ids[0]);
          const info = metald.client.getVmInfo(ids[0]);
          assert.equal(info.state, 'running', codec);
          assert.equal(info.config.cpu.vcpuCount, 1, codec);
          const listed = metald.client.listVms({ stateFilter: [], pageSize: 0, pageToken: '' }).vms.map((vm) => vm.vmId);
          for (const id of ids) assert.ok(listed.includes(id), `${codec}: ${id}`);
        } finally {
          metald.close();
        }
      }
    } finally {
      await server.stop();
    }
  });

  test('bytes after a member that are not a member are an internal error', () => {
    const metald = createMetald(offline);
    try {
      // GetVmInfoResponse{vm_id: "ud-1", state: 2}, split across two members.
      const message = Buffer.from([0x0a, 4, ...Buffer.from('ud-1'), 0x18, 2]);
      const headers = [
        ['content-type', 'application/proto'],
        ['content-encoding', 'gzip'],
      ];
      const body = Buffer.concat([gzipSync(message.subarray(0, 6)), gzipSync(message.subarray(6))]);
      const options = metald.client.options();
      const decoded = metald.codec.decodeResponse(options, 'get-vm-info', { status: 200, headers, body });
      assert.equal(decoded.val.state, 'running');
      try {
        metald.codec.decodeResponse(options, 'get-vm-info', {
          status: 200,
          headers,
          body: Buffer.concat([gzipSync(message), Buffer.from('junk')]),
        });
        assert.fail('trailing garbage was accepted');
      } catch (error) {
        assert.equal(errorInfo(error)?.code, 'internal', String(error));
      }
    } finally {
      metald.close();
    }
  });
});
