// Starts `metald-host dev-server` on a free port for a test and stops it afterwards.
//
//   METALD_HOST_BIN   the host binary (default ../target/debug/metald-host)

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const hostBin = process.env.METALD_HOST_BIN
  ? resolve(process.env.METALD_HOST_BIN)
  : resolve(root, '../target/debug/metald-host');

/**
 * Starts a dev server with extra arguments (`--tls-mode disabled` unless given) and resolves
 * to `{ url, stop(), stderr() }` once it printed its URL.
 */
export async function startDevServer(args = []) {
  if (!existsSync(hostBin)) {
    throw new Error(
      `metald-host not found at ${hostBin}: build it from the repository root with ` +
        '`cargo build -p metald-host-cli`, or set METALD_HOST_BIN',
    );
  }
  const fullArgs = ['dev-server', '--listen', '127.0.0.1:0'];
  if (!args.includes('--tls-mode')) fullArgs.push('--tls-mode', 'disabled');
  fullArgs.push(...args);
  const child = spawn(hostBin, fullArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const url = await new Promise((done, fail) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => fail(new Error(`dev server did not start within 20 s\n${stderr}`)), 20000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      lines.on('line', () => {});
      done(line.trim());
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      fail(new Error(`dev server exited (${code ?? signal}) before printing its URL\n${stderr}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
