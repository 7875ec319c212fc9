#!/usr/bin/env node
// Shrinks the metald component for scripts/build-component.sh: runs Binaryen's wasm-opt over
// each core module inside it (`jco opt`, which puts the optimized modules back in place and
// validates the result), then drops the top-level `component-name` custom section (debug
// names of the component's own items, ~15 KB, read by no runtime: wasmtime, jco, wazero via
// go/metald and wasmtime-py name nothing after it; `wasm-tools print` shows indices instead).
// Both tools are this package's exactly pinned devDependencies
// (@bytecodealliance/jco, binaryen in package.json and package-lock.json), so the output is a
// function of the input and the lock file: the committed copies stay reproducible.
//
//   node js/scripts/optimize-component.mjs IN.wasm OUT.wasm   optimize IN into OUT
//   node js/scripts/optimize-component.mjs --check-tools      exit 1 unless node_modules holds
//                                                              the locked jco and binaryen
//
// wasm-opt may use only the WebAssembly features rustc already uses for wasm32-wasip2 and every
// host accepts (wasmtime, wazero's CoreFeaturesV2, Node, wasmtime-py); in particular not
// extended-const, which wazero lacks.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jcoCli } from './jco-cli.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The wasm-opt arguments: optimize for size with the features the module already uses. */
const WASM_OPT_ARGS = [
  '-Oz',
  '--enable-bulk-memory',
  '--enable-sign-ext',
  '--enable-mutable-globals',
  '--enable-nontrapping-float-to-int',
  '--enable-multivalue',
  '--enable-reference-types',
  '--strip-debug',
];

/** Problems with the installed tools: each locked package must be installed at its locked version. */
function toolProblems() {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const problems = [];
  for (const name of ['@bytecodealliance/jco', 'binaryen']) {
    const locked = lock.packages?.[`node_modules/${name}`]?.version;
    const manifest = join(root, 'node_modules', name, 'package.json');
    const installed = existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')).version : undefined;
    if (!locked) problems.push(`${name} is not in js/package-lock.json`);
    else if (installed !== locked) problems.push(`${name} ${installed ?? 'is not installed'} (locked: ${locked})`);
  }
  return problems;
}

/** Reads an unsigned LEB128 at `offset`: [value, offset after it]. */
function readU32(bytes, offset) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (offset >= bytes.length || shift > 28) throw new Error(`malformed LEB128 at byte ${offset}`);
    const byte = bytes[offset++];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, offset];
    shift += 7;
  }
}

/**
 * `component` without its top-level custom sections named `name` (the binary format's
 * sections: an id byte, a LEB128 size, the payload; a custom section, id 0, starts its payload
 * with its name). Nested components and modules are left alone.
 */
function dropCustomSection(component, name) {
  const preamble = 8; // \0asm, version, layer
  const kept = [component.subarray(0, preamble)];
  let offset = preamble;
  while (offset < component.length) {
    const start = offset;
    const id = component[offset];
    const [size, payload] = readU32(component, offset + 1);
    const end = payload + size;
    if (end > component.length) throw new Error(`section at byte ${start} runs past the end`);
    let drop = false;
    if (id === 0) {
      const [nameLength, nameStart] = readU32(component, payload);
      drop = Buffer.from(component.subarray(nameStart, nameStart + nameLength)).toString('utf8') === name;
    }
    if (!drop) kept.push(component.subarray(start, end));
    offset = end;
  }
  return Buffer.concat(kept);
}

const args = process.argv.slice(2);
if (args.length === 1 && args[0] === '--check-tools') {
  const problems = toolProblems();
  for (const problem of problems) console.error(`js/node_modules: ${problem}`);
  process.exit(problems.length === 0 ? 0 : 1);
}
if (args.length !== 2) {
  console.error('usage: optimize-component.mjs IN.wasm OUT.wasm | --check-tools');
  process.exit(2);
}
const [input, output] = args.map((path) => resolve(path));
if (!existsSync(input) || !statSync(input).isFile()) {
  console.error(`error: no component at ${input}`);
  process.exit(1);
}
const problems = toolProblems();
if (problems.length > 0) {
  for (const problem of problems) console.error(`error: js/node_modules: ${problem}`);
  console.error('fix: (cd js && npm ci)');
  process.exit(1);
}
try {
  execFileSync(process.execPath, [jcoCli(), 'opt', input, '-o', output, '--quiet', '--', ...WASM_OPT_ARGS], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
} catch (error) {
  console.error(`error: jco opt (wasm-opt) failed for ${input}`);
  process.exit(error.status || 1);
}
writeFileSync(output, dropCustomSection(readFileSync(output), 'component-name'));
console.error(`optimized ${input} (${statSync(input).size} bytes) into ${output} (${statSync(output).size} bytes)`);
