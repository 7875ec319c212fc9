// A worker extension for test/shim-contract.test.mjs: reports the shape of the context that
// preview2-shim's I/O worker hands to extensions (what src/worker-extension.js relies on).

import { PassThrough } from 'node:stream';

export default function create(context) {
  return async function probe(operation) {
    switch (operation) {
      case 'context':
        return Object.fromEntries(Object.entries(context).map(([name, value]) => [name, typeof value]));
      case 'stream-roundtrip': {
        // A readable made here is readable from the main thread through inputStreamCreate.
        const stream = new PassThrough();
        stream.end('from the worker');
        return context.createReadableStream(stream);
      }
      case 'future':
        return context.createFuture(Promise.resolve({ answer: 42 }));
      case 'is-node-stream':
        return typeof context.getStream(arguments[1]?.[0])?.pipe === 'function';
      default:
        throw new Error(`unknown probe ${operation}`);
    }
  };
}
