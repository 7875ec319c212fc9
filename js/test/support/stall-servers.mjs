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

const h2Source = `
const { parentPort } = require('node:worker_threads');
const http2 = require('node:http2');
const sessions = new Set();
// h2c: /refuse answers RST_STREAM(REFUSED_STREAM); /partial sends a head and 10 of 100 body
// bytes, then stalls; anything else gets 200 "hello h2 on session <n>" (n counts sessions).
const server = http2.createServer();
let sessionCount = 0;
server.on('session', (session) => {
  session.number = ++sessionCount;
  sessions.add(session);
  session.on('close', () => sessions.delete(session));
});
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  const path = headers[':path'];
  if (path === '/refuse') {
    stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  } else if (path === '/partial') {
    stream.respond({ ':status': 200, 'content-length': '100' });
    stream.write('0123456789');
  } else {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end('hello h2 on session ' + stream.session.number);
  }
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', () => {
  for (const session of sessions) session.destroy();
  server.close();
  parentPort.close();
});
`;

/** Starts an h2c server (see h2Source) in a worker; resolves to `{ port, stop() }`. */
export async function startH2cServer() {
  const worker = new Worker(h2Source, { eval: true });
  const [port] = await once(worker, 'message');
  return {
    port,
    async stop() {
      worker.postMessage('stop');
      await worker.terminate();
    },
  };
}
