// Runs a composed plugin (a wasi:cli/run component with the metald client component plugged
// in, `metald-host plugin compose`) that jco transpiled, in this Node process: WASI from
// preview2-shim, except wasi:http, which is this package's transport (src/transport.js) with
// its allow-list and TLS settings, and wasi:filesystem/preopens, which grants no directory.
// What a Node plugin platform would do; the test (test/plugin.test.mjs) runs it as a child
// process to see its stdout, stderr and exit code.
//
//   node plugin-runner.mjs GENERATED_DIR ALLOWED_HOST [PLUGIN ARGS...]
//
//   METALD_PLUGIN_TLS   JSON { cert, key, ca } of PEM file paths: mTLS for the transport

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { cli, clocks, filesystem, io, random } from '@bytecodealliance/preview2-shim';

import { AllowList } from '../../src/allow.js';
import { createTransport } from '../../src/transport.js';

const [generatedDir, allowedHost, ...pluginArgs] = process.argv.slice(2);
if (!generatedDir || !allowedHost) {
  console.error('usage: node plugin-runner.mjs GENERATED_DIR ALLOWED_HOST [PLUGIN ARGS...]');
  process.exit(2);
}

let tls;
if (process.env.METALD_PLUGIN_TLS) {
  const files = JSON.parse(process.env.METALD_PLUGIN_TLS);
  tls = Object.fromEntries(Object.entries(files).map(([name, path]) => [name, readFileSync(path)]));
}
const transport = createTransport({ allow: new AllowList([allowedHost]), tls });
process.on('exit', () => {
  // The host says what its allow-list refused; stdout stays the plugin's.
  if (transport.stats.denied > 0) {
    process.stderr.write(`plugin-runner: ${transport.stats.denied} request(s) denied by the allow-list (allowed: ${allowedHost})\n`);
  }
});

const interfaces = {
  'wasi:cli/environment': {
    getArguments: () => ['metald-example-plugin', ...pluginArgs],
    getEnvironment: () => [],
    initialCwd: () => undefined,
  },
  'wasi:cli/exit': cli.exit,
  'wasi:cli/stdin': cli.stdin,
  'wasi:cli/stdout': cli.stdout,
  'wasi:cli/stderr': cli.stderr,
  'wasi:cli/terminal-input': cli.terminalInput,
  'wasi:cli/terminal-output': cli.terminalOutput,
  'wasi:cli/terminal-stdin': cli.terminalStdin,
  'wasi:cli/terminal-stdout': cli.terminalStdout,
  'wasi:cli/terminal-stderr': cli.terminalStderr,
  'wasi:clocks/monotonic-clock': clocks.monotonicClock,
  'wasi:clocks/wall-clock': clocks.wallClock,
  'wasi:filesystem/types': filesystem.types,
  'wasi:filesystem/preopens': { getDirectories: () => [] },
  'wasi:io/error': io.error,
  'wasi:io/poll': io.poll,
  'wasi:io/streams': io.streams,
  'wasi:random/random': random.random,
  'wasi:random/insecure': random.insecure,
  'wasi:random/insecure-seed': random.insecureSeed,
  'wasi:http/types': transport.types,
  'wasi:http/outgoing-handler': transport.outgoingHandler,
};

// jco names imports with their version (`wasi:io/streams@0.2.12`); the plugin's standard
// library and the client component may use different 0.2.x versions of the same interface.
const imports = new Proxy(
  {},
  {
    get(_, name) {
      const value = interfaces[String(name).replace(/@[^@]*$/, '')];
      if (!value) throw new Error(`plugin-runner: the plugin imports ${String(name)}, which is not granted`);
      return value;
    },
  },
);

const { instantiate } = await import(pathToFileURL(join(generatedDir, 'plugin.js')).href);
const root = instantiate((name) => new WebAssembly.Module(readFileSync(join(generatedDir, name))), imports);
try {
  root.run.run();
} catch (error) {
  if (error instanceof WebAssembly.RuntimeError) {
    console.error(`plugin-runner: the plugin trapped: ${error.message}`);
  } else if (error && typeof error === 'object' && 'payload' in error) {
    // jco's ComponentError: `run` returned err (the plugin reported its failure itself).
    console.error('plugin-runner: the plugin exited with a failure status');
  } else {
    console.error(`plugin-runner: ${error?.stack ?? error}`);
  }
  process.exitCode = 1;
} finally {
  transport.close();
}
