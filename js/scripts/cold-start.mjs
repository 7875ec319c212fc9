#!/usr/bin/env node
// Cold start of the metald component in Node: prints a markdown table to stdout.
//
// What a Node program pays for the component before its first call is compiling the core wasm
// modules that jco transpiled out of it (generated/metald.core*.wasm). V8 keeps compiled modules
// of identical bytes for the life of a process, so every sample runs in a fresh `node` process
// that times `WebAssembly.compile` of each core module, and then `createMetald()` (this
// package's entry point: compiles and instantiates everything, first use of the SDK).
//
//   node scripts/cold-start.mjs [--samples N] [COMPONENT.wasm ...]
//
// With no component, it measures generated/ (what `npm run build` made). A component given is
// transpiled with the pinned jco into a temporary directory first (to compare builds).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jcoCli } from './jco-cli.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The child: times WebAssembly.compile of every core module in `dir`, prints JSON. */
const CHILD = `
const { readFileSync, readdirSync } = require('node:fs');
const { join } = require('node:path');
const dir = process.argv[1];
const files = readdirSync(dir).filter((f) => /\\.core\\d*\\.wasm$/.test(f)).sort();
const bytes = files.map((f) => readFileSync(join(dir, f)));
const start = process.hrtime.bigint();
Promise.all(bytes.map((b) => WebAssembly.compile(b))).then(() => {
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  process.stdout.write(JSON.stringify({ ms, files: files.length }));
});
`;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function usage(message) {
  console.error(`error: ${message}\nusage: node scripts/cold-start.mjs [--samples N] [COMPONENT.wasm ...]`);
  process.exit(2);
}

let samples = 7;
const components = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--samples') {
    samples = Number(argv[++i]);
    if (!Number.isInteger(samples) || samples < 1) usage('--samples takes a whole number ≥ 1');
  } else if (argv[i].startsWith('-')) {
    usage(`unknown flag ${argv[i]}`);
  } else {
    components.push(resolve(argv[i]));
  }
}

/** Imports the package's src/ (which loads generated/), then times its first `createMetald()`. */
const CREATE = `
// The time inside WebAssembly.Module/Instance (compile, instantiate) is counted separately
// from the rest (jco's generated JavaScript glue, the transport, Client.open).
let wasmNs = 0n;
for (const name of ['Module', 'Instance']) {
  const Original = WebAssembly[name];
  WebAssembly[name] = function (...args) {
    const t = process.hrtime.bigint();
    try { return new Original(...args); } finally { wasmNs += process.hrtime.bigint() - t; }
  };
}
import(process.argv[1]).then((m) => {
  const start = process.hrtime.bigint();
  // Opening a client validates its options and connects to nothing.
  m.createMetald({ server: 'http://127.0.0.1:1', userId: 'cold-start', tenantId: 'cold-start' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  process.stdout.write(JSON.stringify({ ms, wasmMs: Number(wasmNs) / 1e6 }), () => process.exit(0));
});
`;

/** V8's ways to compile wasm: its default (lazy: functions compile on first call), and eager. */
const MODES = [
  ['lazy (default)', []],
  ['eager Liftoff', ['--no-wasm-lazy-compilation']],
  ['eager TurboFan', ['--no-wasm-lazy-compilation', '--no-liftoff']],
];

function sample(script, arg, flags = []) {
  return JSON.parse(execFileSync(process.execPath, [...flags, '-e', script, arg], { encoding: 'utf8' }));
}

const rows = [];
const targets = components.length > 0 ? components : [null];
for (const component of targets) {
  let dir = join(root, 'generated');
  let temp = null;
  let size;
  if (component) {
    size = statSync(component).size;
    temp = mkdtempSync(join(tmpdir(), 'metald-cold-start-'));
    dir = temp;
    execFileSync(process.execPath, [jcoCli(), 'transpile', component, '--out-dir', dir, '--name', 'metald', '--instantiation', 'sync', '--quiet'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  } else {
    size = JSON.parse(readFileSync(join(dir, 'BUILD_INFO.json'), 'utf8')).bytes;
  }
  const coreBytes = readdirSync(dir)
    .filter((f) => /\.core\d*\.wasm$/.test(f))
    .reduce((total, f) => total + statSync(join(dir, f)).size, 0);
  const compile = MODES.map(([, flags]) => {
    const ms = [];
    for (let i = 0; i < samples; i++) ms.push(sample(CHILD, dir, flags).ms);
    return ms;
  });
  const create = [];
  if (!component) {
    for (let i = 0; i < samples; i++) create.push(sample(CREATE, join(root, 'src/index.js')));
  }
  if (temp) rmSync(temp, { recursive: true, force: true });
  rows.push({ component: component ?? 'generated/', size, coreBytes, compile, create });
}

const head = MODES.map(([name]) => `WebAssembly.compile, ${name}`).join(' | ');
console.log(`| component | bytes (core modules) | ${head} | first createMetald(), median (min) |`);
console.log(`|---|---|${MODES.map(() => '---|').join('')}---|`);
for (const { component, size, coreBytes, compile, create } of rows) {
  const total = create.map(({ ms }) => ms);
  const wasm = create.map(({ wasmMs }) => wasmMs);
  const created =
    create.length > 0
      ? `${median(total).toFixed(1)} ms (${Math.min(...total).toFixed(1)}); in WebAssembly.Module/Instance ${median(wasm).toFixed(1)} ms`
      : '—';
  const compiled = compile.map((ms) => `${median(ms).toFixed(1)} ms (${Math.min(...ms).toFixed(1)})`).join(' | ');
  console.log(`| ${component} | ${size} (${coreBytes}) | ${compiled} | ${created} |`);
}
console.error(`node ${process.version}; median (min) of ${samples} samples, each in a fresh process`);
