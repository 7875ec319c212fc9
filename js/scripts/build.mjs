#!/usr/bin/env node
// Transpiles the metald component (built by cargo) into generated/ with jco:
// ES module glue in `--instantiation sync` mode (so each createMetald() can supply its own
// wasi:http transport), the core wasm modules, and TypeScript declarations; and copies the
// SPIFFE Workload API proto the SPIFFE mode loads (src/workload-api.js) from the one the fake
// Workload API is built from (devserver/proto/workload.proto), so the package carries it.
//
//   METALD_COMPONENT   path of the component (default ../target/wasm32-wasip2/component/optimized/metald_guest.wasm,
//                      written by scripts/build-component.sh)

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jcoCli } from './jco-cli.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const defaultComponent = resolve(root, '../target/wasm32-wasip2/component/optimized/metald_guest.wasm');
const component = process.env.METALD_COMPONENT ? resolve(process.env.METALD_COMPONENT) : defaultComponent;
const outDir = join(root, 'generated');

if (!existsSync(component) || !statSync(component).isFile()) {
  console.error(
    `error: the metald component was not found at ${component}\n` +
      '  Build it first, from the repository root:\n' +
      '      ./scripts/build-component.sh\n' +
      '  or point METALD_COMPONENT at a metald_guest.wasm.',
  );
  process.exit(1);
}

const jcoBin = jcoCli();

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const started = Date.now();
try {
  execFileSync(
    process.execPath,
    [jcoBin, 'transpile', component, '--out-dir', outDir, '--name', 'metald', '--instantiation', 'sync', '--quiet'],
    { stdio: 'inherit' },
  );
} catch (error) {
  console.error(`error: jco transpile failed for ${component}`);
  process.exit(error.status || 1);
}
const bytes = readFileSync(component);
const info = {
  component: relative(root, component),
  bytes: bytes.length,
  sha256: createHash('sha256').update(bytes).digest('hex'),
  jco: '--instantiation sync --name metald',
};
writeFileSync(join(outDir, 'BUILD_INFO.json'), `${JSON.stringify(info, null, 2)}\n`);
copyFileSync(resolve(root, '../devserver/proto/workload.proto'), join(outDir, 'workload.proto'));
console.error(`built generated/ from ${relative(root, component)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
