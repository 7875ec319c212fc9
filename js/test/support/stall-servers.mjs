// Misbehaving servers for transport tests. They run in a worker thread: the test's main
// thread blocks (Atomics.wait) during every wasi:http call, so a server on it could not answer.

import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

const source = `
const { parentPort } = require('node:worker_threads');
const net = require('node:net');
const http = require('node:http');
const sockets = new Set();
const track = (server) => server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
// Accepts connections, reads whatever comes, never answers (no HTTP response, no TLS handshake).
const silent = net.createServer((socket) => socket.on('data', () => {}).on('error', () => {}));
// Sends a response head and 10 of 100 body bytes, then stalls.
const partial = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
  res.write('0123456789');
});
// Answers every request with 200 "hello <method> <path> <body>".
const hello = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8').on('data', (chunk) => { body += chunk; }).on('end', () => {
    const text = 'hello ' + req.method + ' ' + req.url + ' ' + body;
    res.writeHead(200, { 'content-type': 'text/plain', 'x-test': 'yes', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
});
const servers = { silent, partial, hello };
Promise.all(Object.entries(servers).map(([name, server]) => new Promise((done) => {
  track(server);
  server.listen(0, '127.0.0.1', () => done([name, server.address().port]));
}))).then((ports) => parentPort.postMessage(Object.fromEntries(ports)));
parentPort.on('message', () => {
  for (const s of sockets) s.destroy();
  for (const server of Object.values(servers)) server.close();
  parentPort.close();
});
`;

/** Starts the servers; resolves to `{ ports: { silent, partial, hello }, stop() }`. */
export async function startStallServers() {
  const worker = new Worker(source, { eval: true });
  const [ports] = await once(worker, 'message');
  return {
    ports,
    async stop() {
      worker.postMessage('stop');
      await worker.terminate();
    },
  };
}
