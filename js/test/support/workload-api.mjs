// Starts `metald-fake-workload-api` (a fake SPIFFE Workload API serving SVIDs from PEM files)
// for a test and stops it afterwards. SIGHUP makes it re-read its files and push them to open
// streams (rotation).
//
//   METALD_FAKE_WORKLOAD_API_BIN   the binary (default ../target/debug/metald-fake-workload-api)

import { spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const fakeWorkloadApiBin = process.env.METALD_FAKE_WORKLOAD_API_BIN
  ? resolve(process.env.METALD_FAKE_WORKLOAD_API_BIN)
  : resolve(root, '../target/debug/metald-fake-workload-api');

/** A PEM private key as PKCS#8, as the Workload API carries keys. */
export const pkcs8 = (pem) => createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' });

/**
 * Starts a fake Workload API on `<dir>/<name>.sock` serving `svids` (`[{ cert, key }]`, the
 * first the default; none: no identity) with `bundle` (PEM). Resolves to
 * `{ socket, path, rotate(svids, bundle?), stop() }`; `rotate` rewrites the files and sends SIGHUP.
 */
export async function startWorkloadApi(files, name, { bundle, svids }) {
  if (!existsSync(fakeWorkloadApiBin)) {
    throw new Error(
      `metald-fake-workload-api not found at ${fakeWorkloadApiBin}: build it from the repository root with ` +
        '`cargo build -p metald-devserver --bins`, or set METALD_FAKE_WORKLOAD_API_BIN',
    );
  }
  const path = join(files.dir, `${name}.sock`);
  const bundleFile = files.write(`${name}-bundle.pem`, bundle);
  const svidFiles = svids.map((svid, i) => ({
    cert: files.write(`${name}-svid${i}.pem`, svid.cert),
    key: files.write(`${name}-svid${i}.key`, pkcs8(svid.key)),
  }));
  const args = ['--socket', path, '--bundle', bundleFile];
  for (const svid of svidFiles) args.push('--svid', `${svid.cert}:${svid.key}`);
  const child = spawn(fakeWorkloadApiBin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const socket = await new Promise((done, fail) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => fail(new Error(`fake Workload API did not start within 20 s\n${stderr}`)), 20000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      lines.on('line', () => {});
      done(line.trim());
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      fail(new Error(`fake Workload API exited (${code ?? signal}) before it was ready\n${stderr}`));
    });
  });
  return {
    socket,
    path,
    stderr: () => stderr,
    /** Replaces the served SVIDs (same count) and optionally the bundle, then SIGHUP. */
    rotate(newSvids, newBundle) {
      newSvids.forEach((svid, i) => {
        files.write(`${name}-svid${i}.pem`, svid.cert);
        files.write(`${name}-svid${i}.key`, pkcs8(svid.key));
      });
      if (newBundle !== undefined) files.write(`${name}-bundle.pem`, newBundle);
      child.kill('SIGHUP');
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * A certificate serial as hex for comparisons: lower case, without leading zeros (the peer
 * log writes the DER integer's bytes, with a 00 before a high bit; Node leaves it out).
 */
export const serialHex = (serial) => serial.toLowerCase().replace(/^0+(?=.)/, '');

/** The JSON lines of a dev server's `--peer-log` file (none yet: empty), serials as serialHex. */
export function readPeerLog(path) {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line))
    .map((line) => (typeof line.serial === 'string' ? { ...line, serial: serialHex(line.serial) } : line));
}
