// An HTTPS server that speaks only HTTP/1.1 (it offers no h2 by ALPN), for the transport's
// fallback. It answers every request as an empty Connect proto response (200,
// application/proto, no body: an empty ListVmsResponse) and records the ALPN protocol of each
// request's connection. It runs in a worker thread: the test's main thread blocks
// (Atomics.wait) during every wasi:http call, so a server on it could not answer.

import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

const source = `
const { parentPort, workerData } = require('node:worker_threads');
const https = require('node:https');
const seen = [];
const server = https.createServer({ cert: workerData.cert, key: workerData.key, ALPNProtocols: ['http/1.1'] }, (req, res) => {
  seen.push(req.socket.alpnProtocol || null);
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/proto', 'content-length': '0' });
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (message) => {
  if (message === 'seen') {
    parentPort.postMessage({ seen });
    return;
  }
  server.closeAllConnections();
  server.close();
  parentPort.close();
});
`;

/** Starts the server with `{ cert, key }`; resolves to `{ port, seen(), stop() }`. */
export async function startH1TlsServer({ cert, key }) {
  const worker = new Worker(source, { eval: true, workerData: { cert, key } });
  const [{ port }] = await once(worker, 'message');
  return {
    port,
    /** The ALPN protocol of each request's connection so far. */
    async seen() {
      worker.postMessage('seen');
      const [{ seen }] = await once(worker, 'message');
      return seen;
    },
    async stop() {
      worker.postMessage('stop');
      await worker.terminate();
    },
  };
}
