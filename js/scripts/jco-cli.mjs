// Where jco's CLI is: found from its package root, since its package.json is not in its
// exports map. Used by scripts/build.mjs and test/plugin.test.mjs.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The path of the `@bytecodealliance/jco` CLI script. */
export function jcoCli() {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve('@bytecodealliance/jco'));
  while (dir !== dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
      if (pkg.name === '@bytecodealliance/jco') return join(dir, typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.jco);
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the @bytecodealliance/jco CLI; run npm ci first');
}
