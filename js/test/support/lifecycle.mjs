// The VM lifecycle every transport must carry: builder + template, validation, create, boot,
// info, list with pagination, pause, resume, reboot, shutdown, delete, and a not_found.

import assert from 'node:assert/strict';

import { errorInfo } from '../../src/index.js';

const noPage = { stateFilter: [], pageSize: 0, pageToken: '' };

/** Asserts that `fn` throws a metald error and returns its `errorInfo`. */
export function expectMetaldError(fn, kind, code) {
  let thrown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown, 'expected the call to throw');
  assert.equal(thrown.name, 'ComponentError', String(thrown?.stack ?? thrown));
  const info = errorInfo(thrown);
  assert.ok(info, `not a metald error: ${thrown}`);
  assert.equal(info.kind, kind, thrown.message);
  if (code !== undefined) assert.equal(info.code, code, thrown.message);
  return info;
}

/** Runs the whole lifecycle on a fresh server through `metald` (from createMetald). */
export function runLifecycle(metald) {
  const { client, VmConfigBuilder, templates, validation } = metald;

  // A config from the builder and a template.
  const builder = VmConfigBuilder.fromTemplate('minimal');
  builder.addMetadata('purpose', 'js-test');
  builder.withMemoryMb(512n, 1024n, false);
  const config = builder.build();
  builder.validate();
  validation.validateConfig(config);
  assert.equal(config.cpu.vcpuCount, templates.templateConfig('minimal').cpu.vcpuCount);
  assert.equal(config.memory.sizeBytes, 512n << 20n);
  assert.deepEqual(config.metadata.find(([key]) => key === 'purpose'), ['purpose', 'js-test']);

  // A bad config throws with the field paths, from the validation interface and from createVm.
  const bad = VmConfigBuilder.fromConfig(config);
  bad.withCpu(0, 0);
  bad.addStorage('data', '', false, false, '');
  const badConfig = bad.build();
  let issues;
  try {
    validation.validateConfig(badConfig);
  } catch (error) {
    issues = error.payload;
  }
  assert.ok(Array.isArray(issues), 'validateConfig throws the list of issues');
  assert.deepEqual(issues.map((issue) => issue.field).sort(), ['cpu.vcpu-count', 'storage[1].path']);
  const refused = expectMetaldError(() => client.createVm(badConfig), 'invalid-config', 'invalid_argument');
  assert.deepEqual(refused.issues.map((issue) => issue.field).sort(), ['cpu.vcpu-count', 'storage[1].path']);
  assert.equal(client.listVms(noPage).totalCount, 0, 'nothing was sent for the bad config');

  // Create, boot, info.
  const created = client.createVm(config);
  assert.match(created.vmId, /\S/);
  assert.equal(created.state, 'created');
  const booted = client.bootVm(created.vmId);
  assert.deepEqual(booted, { success: true, state: 'running' });
  const info = client.getVmInfo(created.vmId);
  assert.equal(info.vmId, created.vmId);
  assert.equal(info.state, 'running');
  assert.equal(info.config.cpu.vcpuCount, config.cpu.vcpuCount);
  assert.equal(info.config.memory.sizeBytes, config.memory.sizeBytes);

  // Two more VMs, then list with pagination.
  const others = [client.createVm(templates.templateConfig('standard')), client.createVm(config)];
  const ids = new Set([created.vmId, ...others.map((vm) => vm.vmId)]);
  const first = client.listVms({ stateFilter: [], pageSize: 2, pageToken: '' });
  assert.equal(first.vms.length, 2);
  assert.equal(first.totalCount, 3);
  assert.notEqual(first.nextPageToken, '');
  const second = client.listVms({ stateFilter: [], pageSize: 2, pageToken: first.nextPageToken });
  assert.equal(second.vms.length, 1);
  assert.equal(second.nextPageToken, '');
  assert.deepEqual(new Set([...first.vms, ...second.vms].map((vm) => vm.vmId)), ids);
  assert.ok([...first.vms, ...second.vms].every((vm) => vm.customerId === 'alice'));
  assert.deepEqual(new Set(client.listAllVms([]).map((vm) => vm.vmId)), ids);
  assert.deepEqual(client.listAllVms(['running']).map((vm) => vm.vmId), [created.vmId]);

  // Pause, resume, reboot, shutdown, delete.
  assert.deepEqual(client.pauseVm(created.vmId), { success: true, state: 'paused' });
  assert.equal(client.getVmInfo(created.vmId).state, 'paused');
  assert.deepEqual(client.resumeVm(created.vmId), { success: true, state: 'running' });
  assert.deepEqual(client.rebootVm({ vmId: created.vmId, force: false }), { success: true, state: 'running' });
  assert.deepEqual(client.shutdownVm({ vmId: created.vmId, force: false, timeoutSeconds: 5 }), {
    success: true,
    state: 'shutdown',
  });
  for (const id of ids) assert.deepEqual(client.deleteVm({ vmId: id, force: false }), { success: true });
  assert.equal(client.listVms(noPage).totalCount, 0);

  // Not found: a Connect error with code not_found.
  const missing = expectMetaldError(() => client.getVmInfo(created.vmId), 'connect', 'not_found');
  assert.equal(missing.httpStatus, 404);
  assert.match(missing.message, new RegExp(created.vmId));
}
