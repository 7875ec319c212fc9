// Pure-JS pieces: the allow-list (the Rust host's rules), SPIFFE IDs and SANs, the error
// mapping of the worker side, and errorInfo.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { readFileSync } from 'node:fs';

import { AllowList, parseAllowedHost, splitAuthority } from '../src/allow.js';
import { codeName, errorInfo, metaldError, serverAllowEntry } from '../src/index.js';

/** testdata/server-urls.json, the vectors the Rust and Go tests read too. */
const serverUrls = JSON.parse(readFileSync(new URL('../../testdata/server-urls.json', import.meta.url), 'utf8'));
import { makeCheckServerIdentity, parseSpiffeId, parseSubjectAltName } from '../src/tls-policy.js';
import { errorCodeOf } from '../src/worker-extension.js';

describe('allow-list', () => {
  test('parses the accepted forms', () => {
    assert.deepEqual(parseAllowedHost('https://Metald:8443'), { scheme: 'https', host: 'metald', port: 8443 });
    assert.deepEqual(parseAllowedHost('10.0.0.1:80'), { scheme: null, host: '10.0.0.1', port: 80 });
    assert.equal(parseAllowedHost('[::1]:9').host, '[::1]');
    assert.equal(parseAllowedHost('example.org').port, null);
    assert.deepEqual(parseAllowedHost('http://h:1/'), { scheme: 'http', host: 'h', port: 1 });
  });

  test('rejects paths, wildcards and bad ports', () => {
    for (const entry of ['ftp://x', 'h/path', '*.example.org', 'h:0', 'h:99999', '', 'http://', 'u@h:1']) {
      assert.throws(() => parseAllowedHost(entry), TypeError, entry);
    }
  });

  test('allows exactly the listed scheme, host and port', () => {
    const list = new AllowList(['http://127.0.0.1:8080']);
    assert.ok(list.allows('http', '127.0.0.1', 8080));
    assert.ok(!list.allows('https', '127.0.0.1', 8080));
    assert.ok(!list.allows('http', '127.0.0.1', 8081));
    assert.ok(!list.allows('http', 'localhost', 8080));
    assert.ok(!new AllowList().allows('http', '127.0.0.1', 8080), 'empty denies everything');
  });

  test('default ports follow the scheme', () => {
    const list = new AllowList(['Example.org']);
    assert.ok(list.allows('https', 'example.org', null));
    assert.ok(list.allows('http', 'EXAMPLE.org', 80));
    assert.ok(!list.allows('http', 'example.org', 8080));
  });

  test('a server URL allows the scheme, host and port the component parses', () => {
    for (const v of serverUrls.valid) {
      const entry = serverAllowEntry(v.url);
      assert.deepEqual(entry, { scheme: v.scheme, host: v.host, port: v.port }, v.url);
      const list = new AllowList([entry]);
      // splitAuthority (the transport's) refuses `_` in host names, which the component
      // accepts: such a server fails as HTTP-request-URI-invalid before the allow-list.
      const { host, port } = splitAuthority(v.authority) ?? { host: v.host, port: v.port };
      assert.ok(list.allows(v.scheme, host, port), `${v.url} allows its own authority`);
      assert.ok(!list.allows(v.scheme === 'http' ? 'https' : 'http', host, port), `${v.url}: only its scheme`);
    }
  });

  test('a server URL the component refuses is one server issue', () => {
    for (const v of serverUrls.invalid) {
      let thrown;
      try {
        serverAllowEntry(v.url);
      } catch (error) {
        thrown = error;
      }
      assert.equal(thrown?.name, 'ComponentError', v.url);
      assert.deepEqual(errorInfo(thrown).issues, [{ field: 'server', message: v.message }], v.url);
      assert.equal(thrown.message, `invalid config: server: ${v.message}`);
    }
  });

  test('splits wasi:http authorities', () => {
    assert.deepEqual(splitAuthority('h:80'), { host: 'h', port: 80 });
    assert.deepEqual(splitAuthority('[::1]:8080'), { host: '[::1]', port: 8080 });
    assert.deepEqual(splitAuthority('h'), { host: 'h', port: null });
    for (const bad of ['', 'a b', 'h:x', 'u@h', 'h/p', '[zz]:1', ':80']) assert.equal(splitAuthority(bad), null, bad);
  });
});

describe('SPIFFE', () => {
  test('parses SPIFFE IDs', () => {
    assert.deepEqual(parseSpiffeId('spiffe://example.org/ns/metald'), {
      id: 'spiffe://example.org/ns/metald',
      trustDomain: 'example.org',
      path: '/ns/metald',
    });
    assert.equal(parseSpiffeId('spiffe://example.org').path, '');
    for (const bad of ['spiffe://', 'spiffe://Example.org/x', 'https://example.org/x', 'spiffe://a/b/', 'spiffe://a//b', 'spiffe://a/./b', 'spiffe://a/b?c']) {
      assert.throws(() => parseSpiffeId(bad), TypeError, bad);
    }
  });

  test('reads Node subjectaltname strings', () => {
    assert.deepEqual(parseSubjectAltName('DNS:localhost, IP Address:127.0.0.1, URI:spiffe://example.org/metald'), [
      { type: 'DNS', value: 'localhost' },
      { type: 'IP Address', value: '127.0.0.1' },
      { type: 'URI', value: 'spiffe://example.org/metald' },
    ]);
    assert.deepEqual(parseSubjectAltName('URI:"spiffe://a/b, c"'), [{ type: 'URI', value: 'spiffe://a/b, c' }]);
    assert.deepEqual(parseSubjectAltName(undefined), []);
  });

  test('prefers the exact ID, then the trust domain', () => {
    const cert = (subjectaltname, ca = false) => ({ subjectaltname, ca });
    const exact = makeCheckServerIdentity({ serverSpiffeId: 'spiffe://example.org/metald', trustDomain: 'example.org' });
    assert.equal(exact('127.0.0.1', cert('URI:spiffe://example.org/metald')), undefined);
    assert.match(exact('127.0.0.1', cert('URI:spiffe://example.org/other')).message, /not the expected/);
    const domain = makeCheckServerIdentity({ trustDomain: 'example.org' });
    assert.equal(domain('h', cert('URI:spiffe://example.org/anything')), undefined);
    assert.match(domain('h', cert('URI:spiffe://other.org/metald')).message, /outside our trust domain/);
    assert.match(domain('h', cert('URI:spiffe://example.org/a, URI:spiffe://example.org/b')).message, /exactly one URI SAN/);
    assert.match(domain('h', cert('URI:spiffe://example.org/a', true)).message, /is a CA/);
    // With DNS/IP SANs the usual host name check applies, whatever the URI SAN says.
    assert.equal(domain('localhost', cert('DNS:localhost, URI:spiffe://other.org/x')), undefined);
    assert.match(domain('127.0.0.1', cert('DNS:localhost, URI:spiffe://example.org/x')).message, /not in the cert's list/);
    assert.throws(() => makeCheckServerIdentity({ serverSpiffeId: 'nope' }), TypeError);
  });
});

describe('error mapping', () => {
  const err = (code, message = code, extra = {}) => Object.assign(new Error(message), { code }, extra);

  test('node errors become wasi:http error codes', () => {
    assert.deepEqual(errorCodeOf(err('ECONNREFUSED')), { tag: 'connection-refused' });
    assert.deepEqual(errorCodeOf(err('ENOTFOUND')).tag, 'DNS-error');
    assert.deepEqual(errorCodeOf(err('ECONNRESET')), { tag: 'connection-terminated' });
    assert.deepEqual(errorCodeOf(err('ERR_METALD_CONNECT_TIMEOUT')), { tag: 'connection-timeout' });
    assert.deepEqual(errorCodeOf(err('ERR_METALD_FIRST_BYTE_TIMEOUT')), { tag: 'connection-read-timeout' });
    assert.deepEqual(errorCodeOf(err('HPE_INVALID_CONSTANT')), { tag: 'HTTP-protocol-error' });
    assert.equal(errorCodeOf(err('EWHATEVER', 'boom')).tag, 'internal-error');
    assert.deepEqual(errorCodeOf({ tag: 'HTTP-request-denied' }), { tag: 'HTTP-request-denied' });
  });

  test('TLS failures are alerts that keep their cause', () => {
    const alert = errorCodeOf(
      err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'C0:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:rec_layer_s3.c:1601:SSL alert number 116\n', {
        reason: 'tlsv13 alert certificate required',
        library: 'SSL routines',
      }),
    );
    assert.deepEqual(alert, {
      tag: 'TLS-alert-received',
      val: { alertId: 116, alertMessage: 'tlsv13 alert certificate required (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)' },
    });
    const verify = errorCodeOf(err('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'));
    assert.equal(verify.tag, 'TLS-alert-received');
    assert.match(verify.val.alertMessage, /unable to verify the first certificate/);
    const spiffe = errorCodeOf(err('ERR_METALD_SERVER_IDENTITY', 'server SPIFFE ID x is not the expected y'));
    assert.equal(spiffe.val.alertMessage, 'server SPIFFE ID x is not the expected y');
  });

  test('codeName gives the Connect name of every code', () => {
    const names = ['canceled', 'unknown', 'invalid_argument', 'deadline_exceeded', 'not_found', 'already_exists',
      'permission_denied', 'resource_exhausted', 'failed_precondition', 'aborted', 'out_of_range', 'unimplemented',
      'internal', 'unavailable', 'data_loss', 'unauthenticated'];
    for (const name of names) assert.equal(codeName(name.replaceAll('_', '-')), name);
  });

  test('errorInfo flattens the error variant with Connect code names', () => {
    const thrown = (payload) => Object.assign(new Error('x'), { payload });
    const connect = { tag: 'connect', val: { code: 'not-found', message: 'gone', details: [], httpStatus: 404 } };
    assert.deepEqual(errorInfo(thrown(connect)), { kind: 'connect', code: 'not_found', message: 'gone', httpStatus: 404, details: [] });
    assert.equal(metaldError(thrown(connect)), connect);
    const transport = { tag: 'transport', val: { code: 'unavailable', message: 'down', outcomeUnknown: true } };
    assert.deepEqual(errorInfo(thrown(transport)), { kind: 'transport', code: 'unavailable', message: 'down', outcomeUnknown: true });
    const issues = [{ field: 'cpu.vcpu-count', message: 'must be > 0' }];
    const invalid = errorInfo(thrown({ tag: 'invalid-config', val: issues }));
    assert.equal(invalid.message, 'cpu.vcpu-count: must be > 0');
    assert.equal(invalid.code, 'invalid_argument');
    assert.deepEqual(errorInfo(thrown(issues)).issues, issues, 'the list validateConfig throws');
    assert.deepEqual(errorInfo(thrown({ tag: 'other', val: 'text' })), { kind: 'other', code: 'unknown', message: 'text' });
    assert.equal(errorInfo(thrown({ tag: 'nope' })), undefined);
    assert.equal(errorInfo(undefined), undefined);
  });
});
