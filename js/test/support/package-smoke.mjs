// Run by test/package.test.mjs from a fresh directory outside the repository, where
// @metald/client was installed from the tarball `npm pack` made: a template call (no I/O),
// then a VM lifecycle against `metald-host dev-server` (METALD_HOST_BIN), over HTTP/1.1 and
// h2c. Prints one JSON line with what it saw; exits non-zero on any failure.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import { createMetald } from '@metald/client';

const resolved = import.meta.resolve('@metald/client');
const noPage = { stateFilter: [], pageSize: 0, pageToken: '' };

const server = spawn(process.env.METALD_HOST_BIN, ['dev-server', '--listen', '127.0.0.1:0', '--tls-mode', 'disabled'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const exited = new Promise((done) => server.once('exit', done));
try {
  const url = await new Promise((done, fail) => {
    createInterface({ input: server.stdout }).once('line', (line) => done(line.trim()));
    server.once('exit', (code) => fail(new Error(`dev server exited (${code})`)));
  });
  const results = { resolved };
  for (const h2c of [false, true]) {
    const metald = createMetald({ server: url, userId: 'alice', tenantId: 'acme', h2c });
    try {
      const config = metald.templates.templateConfig('standard');
      results.standardVcpus = config.cpu.vcpuCount;
      const { vmId } = metald.client.createVm(config);
      if (metald.client.bootVm(vmId).state !== 'running') throw new Error('boot did not reach running');
      if (metald.client.getVmInfo(vmId).state !== 'running') throw new Error('info is not running');
      if (metald.client.listVms(noPage).totalCount !== 1) throw new Error('list does not show the VM');
      metald.client.deleteVm({ vmId, force: true });
      results[h2c ? 'h2c' : 'http1'] = metald.transport.info().requests;
    } finally {
      metald.close();
    }
  }
  console.log(JSON.stringify(results));
} finally {
  server.kill('SIGTERM');
  await exited;
}
