// A worker extension for test/shim-contract.test.mjs: reports the shape of the context that
// preview2-shim's I/O worker hands to extensions, and makes streams and futures through it
// (what src/worker-extension.js relies on).

import { PassThrough, Readable } from 'node:stream';

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
      case 'failing-stream': {
        // Fails as worker-extension.js fails a response body: the code leads the message.
        const error = new Error('ERR_METALD_BETWEEN_BYTES_TIMEOUT: no response data for 1 ms');
        error.code = 'ERR_METALD_BETWEEN_BYTES_TIMEOUT';
        const stream = new Readable({ read() {} });
        stream.on('error', () => {});
        setTimeout(() => stream.destroy(error), 10);
        return context.createReadableStream(stream);
      }
      case 'future':
        return context.createFuture(Promise.resolve({ answer: 42 }));
      default:
        throw new Error(`unknown probe ${operation}`);
    }
  };
}
