// The wasi:http transport on its own, driven the way the component drives it: requests
// through the package's wasi:http/types, responses through futures, pollables and streams.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { createTransport } from '../src/transport.js';
import { startH2cServer, startStallServers } from './support/stall-servers.mjs';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const dispose = (resource) => resource?.[Symbol.dispose || Symbol.for('dispose')]?.();
const ms = (n) => BigInt(n) * 1000000n;

/** Starts a request and returns the future; throws what `handle` throws. */
function start(transport, { scheme = 'HTTP', authority, path = '/', method = 'get', body, timeouts = {} }) {
  const { types, outgoingHandler } = transport;
  const headers = [['x-from', encoder.encode('test')]];
  if (body !== undefined) headers.push(['content-length', encoder.encode(String(encoder.encode(body).length))]);
  const request = new types.OutgoingRequest(types.Fields.fromList(headers));
  request.setMethod({ tag: method });
  request.setScheme({ tag: scheme });
  request.setAuthority(authority);
  request.setPathWithQuery(path);
  const outgoingBody = request.body();
  const options = new types.RequestOptions();
  if (timeouts.connect) options.setConnectTimeout(ms(timeouts.connect));
  if (timeouts.firstByte) options.setFirstByteTimeout(ms(timeouts.firstByte));
  if (timeouts.betweenBytes) options.setBetweenBytesTimeout(ms(timeouts.betweenBytes));
  const future = outgoingHandler.handle(request, options);
  if (body !== undefined) {
    const stream = outgoingBody.write();
    stream.blockingWriteAndFlush(encoder.encode(body));
    dispose(stream);
  }
  types.OutgoingBody.finish(outgoingBody, undefined);
  return future;
}

/** Waits for the response: `{ tag: 'ok', val: IncomingResponse }` or `{ tag: 'err', val: ErrorCode }`. */
function wait(future) {
  const pollable = future.subscribe();
  pollable.block();
  dispose(pollable);
  const result = future.get();
  dispose(future);
  assert.equal(result.tag, 'ok', 'the future is taken once');
  return result.val;
}

/** Reads a response body to its end; throws the stream error. */
function readBody(types, response) {
  const body = response.consume();
  const stream = body.stream();
  const chunks = [];
  try {
    for (;;) {
      const pollable = stream.subscribe();
      pollable.block();
      dispose(pollable);
      let chunk;
      try {
        chunk = stream.read(65536n);
      } catch (error) {
        if (error?.tag === 'closed') break;
        throw error;
      }
      chunks.push(decoder.decode(chunk));
    }
  } finally {
    dispose(stream);
    types.IncomingBody.finish(body);
  }
  return chunks.join('');
}

async function closedPort() {
  const server = createServer();
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
}

describe('wasi:http transport', () => {
  let servers;
  let transport;
  let refusedPort;

  before(async () => {
    servers = await startStallServers();
    refusedPort = await closedPort();
    const { silent, partial, hello } = servers.ports;
    transport = createTransport({
      allow: [
        `http://127.0.0.1:${hello}`,
        `127.0.0.1:${silent}`,
        `http://127.0.0.1:${partial}`,
        `http://127.0.0.1:${refusedPort}`,
      ],
    });
  });

  after(async () => {
    transport?.close();
    await servers?.stop();
  });

  test('sends a request and reads the response', () => {
    const authority = `127.0.0.1:${servers.ports.hello}`;
    for (const method of ['get', 'post']) {
      const body = method === 'post' ? '{"a":1}' : undefined;
      const result = wait(start(transport, { authority, path: '/x?y=1', method, body }));
      assert.equal(result.tag, 'ok', JSON.stringify(result.val));
      const response = result.val;
      assert.equal(response.status(), 200);
      const headers = response.headers();
      assert.deepEqual(headers.get('x-test').map((v) => decoder.decode(v)), ['yes']);
      assert.equal(headers.has('connection'), false, 'hop-by-hop headers are left out');
      assert.throws(() => headers.append('x-more', encoder.encode('1')), (e) => e.tag === 'immutable');
      assert.equal(readBody(transport.types, response), `hello ${method.toUpperCase()} /x?y=1 ${body ?? ''}`);
      dispose(headers);
      dispose(response);
    }
  });

  test('refuses destinations off the allow-list with HTTP-request-denied', () => {
    const before = transport.stats.denied;
    const denied = [
      { authority: `localhost:${servers.ports.hello}` },
      { authority: '127.0.0.1:1' },
      { authority: `127.0.0.1:${servers.ports.hello}`, scheme: 'HTTPS' },
      { authority: 'example.org' },
    ];
    for (const request of denied) {
      assert.throws(() => start(transport, request), (e) => e.tag === 'HTTP-request-denied', JSON.stringify(request));
    }
    assert.equal(transport.stats.denied - before, denied.length);
    // An entry without a scheme allows both.
    const result = wait(start(transport, { authority: `127.0.0.1:${servers.ports.silent}`, scheme: 'HTTPS', timeouts: { connect: 50 } }));
    assert.equal(result.tag, 'err');
    assert.notEqual(result.val.tag, 'HTTP-request-denied');
  });

  test('an empty allow-list denies everything', () => {
    const closed = createTransport({ allow: [] });
    try {
      assert.throws(
        () => start(closed, { authority: `127.0.0.1:${servers.ports.hello}` }),
        (e) => e.tag === 'HTTP-request-denied',
      );
    } finally {
      closed.close();
    }
  });

  test('honors the first-byte timeout', () => {
    const started = Date.now();
    const result = wait(start(transport, { authority: `127.0.0.1:${servers.ports.silent}`, timeouts: { firstByte: 300 } }));
    const elapsed = Date.now() - started;
    assert.deepEqual(result, { tag: 'err', val: { tag: 'connection-read-timeout' } });
    assert.ok(elapsed >= 250 && elapsed < 3000, `took ${elapsed} ms`);
  });

  test('honors the connect timeout, TLS handshake included', () => {
    const started = Date.now();
    const result = wait(
      start(transport, { authority: `127.0.0.1:${servers.ports.silent}`, scheme: 'HTTPS', timeouts: { connect: 300 } }),
    );
    const elapsed = Date.now() - started;
    assert.deepEqual(result, { tag: 'err', val: { tag: 'connection-timeout' } });
    assert.ok(elapsed >= 250 && elapsed < 3000, `took ${elapsed} ms`);
  });

  test('honors the between-bytes timeout', () => {
    const result = wait(
      start(transport, { authority: `127.0.0.1:${servers.ports.partial}`, timeouts: { betweenBytes: 300 } }),
    );
    assert.equal(result.tag, 'ok');
    const started = Date.now();
    let failure;
    try {
      readBody(transport.types, result.val);
    } catch (error) {
      failure = error;
    }
    const elapsed = Date.now() - started;
    assert.equal(failure?.tag, 'last-operation-failed');
    assert.deepEqual(transport.types.httpErrorCode(failure.val), { tag: 'connection-read-timeout' });
    assert.ok(elapsed >= 250 && elapsed < 3000, `took ${elapsed} ms`);
    dispose(result.val);
  });

  test('fields: validated names and values, forbidden headers, case-insensitive, immutable once sent', () => {
    const { Fields, OutgoingRequest } = transport.types;
    const bytes = (text) => encoder.encode(text);
    assert.throws(() => Fields.fromList([['bad name', bytes('x')]]), (e) => e.tag === 'invalid-syntax');
    assert.throws(() => Fields.fromList([['x-a', bytes('a\r\nb: c')]]), (e) => e.tag === 'invalid-syntax');
    for (const name of ['Connection', 'host', 'transfer-encoding', 'upgrade', 'keep-alive']) {
      assert.throws(() => Fields.fromList([[name, bytes('x')]]), (e) => e.tag === 'forbidden', name);
    }
    const fields = Fields.fromList([['X-A', bytes('1')], ['x-b', bytes('2')]]);
    fields.append('x-a', bytes('3'));
    assert.deepEqual(fields.get('x-A').map((v) => decoder.decode(v)), ['1', '3']);
    assert.equal(fields.has('X-B'), true);
    fields.set('x-b', [bytes('4'), bytes('5')]);
    fields.delete('X-A');
    assert.deepEqual(fields.entries().map(([n, v]) => [n, decoder.decode(v)]), [['x-b', '4'], ['x-b', '5']]);
    const copy = fields.clone();
    new OutgoingRequest(fields);
    assert.throws(() => fields.append('x-c', bytes('6')), (e) => e.tag === 'immutable');
    copy.append('x-c', bytes('6'));
    assert.equal(copy.entries().length, 3);
  });

  test('reports a refused connection', () => {
    const result = wait(start(transport, { authority: `127.0.0.1:${refusedPort}` }));
    assert.deepEqual(result, { tag: 'err', val: { tag: 'connection-refused' } });
  });
});

describe('wasi:http transport over h2c', () => {
  let server;
  let transport;

  before(async () => {
    server = await startH2cServer();
    transport = createTransport({ allow: [`http://127.0.0.1:${server.port}`], h2c: true });
  });

  after(async () => {
    transport?.close();
    await server?.stop();
  });

  test('sends requests over one HTTP/2 connection', () => {
    for (let i = 0; i < 3; i += 1) {
      const result = wait(start(transport, { authority: `127.0.0.1:${server.port}`, path: '/hello' }));
      assert.equal(result.tag, 'ok', JSON.stringify(result.val));
      assert.equal(result.val.status(), 200);
      assert.equal(readBody(transport.types, result.val), 'hello h2 on session 1');
      dispose(result.val);
    }
    assert.equal(transport.info().requests.h2, 3);
  });

  test('a refused stream (RST_STREAM REFUSED_STREAM) is connection-refused: the server did not process it', () => {
    const result = wait(start(transport, { authority: `127.0.0.1:${server.port}`, path: '/refuse', method: 'post', body: 'x' }));
    assert.deepEqual(result, { tag: 'err', val: { tag: 'connection-refused' } });
  });

  test('honors the between-bytes timeout', () => {
    const result = wait(start(transport, { authority: `127.0.0.1:${server.port}`, path: '/partial', timeouts: { betweenBytes: 300 } }));
    assert.equal(result.tag, 'ok');
    const started = Date.now();
    let failure;
    try {
      readBody(transport.types, result.val);
    } catch (error) {
      failure = error;
    }
    const elapsed = Date.now() - started;
    assert.equal(failure?.tag, 'last-operation-failed');
    assert.deepEqual(transport.types.httpErrorCode(failure.val), { tag: 'connection-read-timeout' });
    assert.ok(elapsed >= 250 && elapsed < 3000, `took ${elapsed} ms`);
    dispose(result.val);
  });
});
