// Pure-JS pieces: the allow-list (the Rust host's rules), SPIFFE IDs and SANs, the error
// mapping of the worker side, and errorInfo.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { readFileSync } from 'node:fs';

import { AllowList, formatAllowedHost, parseAllowedHost, splitAuthority } from '../src/allow.js';
import { codeName, createMetald, errorInfo, metaldError, serverAllowEntry } from '../src/index.js';
import { FUNCTIONS, OPEN_ENUMS, TYPES } from '../src/generated-wit.js';

/** testdata/allow-list.json, the vectors the Rust, Go and Python tests read too. */
const allowVectors = JSON.parse(readFileSync(new URL('../../testdata/allow-list.json', import.meta.url), 'utf8'));
/** testdata/server-urls.json, the vectors the Rust and Go tests read too. */
const serverUrls = JSON.parse(readFileSync(new URL('../../testdata/server-urls.json', import.meta.url), 'utf8'));
import { makeCheckServerIdentity, parseSpiffeId, parseSubjectAltName } from '../src/tls-policy.js';
import { errorCodeOf } from '../src/worker-extension.js';

describe('allow-list', () => {
  test('entries parse as the shared vectors say', () => {
    assert.ok(allowVectors.entries.length > 0);
    for (const v of allowVectors.entries) {
      if (v.canonical !== undefined) {
        assert.equal(formatAllowedHost(parseAllowedHost(v.entry)), v.canonical, v.entry);
      } else {
        assert.throws(
          () => parseAllowedHost(v.entry),
          { name: 'TypeError', message: `invalid allow-list entry ${JSON.stringify(v.entry)}: ${v.problem}` },
          v.entry,
        );
      }
    }
  });

  test('requests are allowed as the shared vectors say', () => {
    assert.ok(allowVectors.requests.length > 0);
    for (const v of allowVectors.requests) {
      const list = new AllowList(v.allow);
      const authority = splitAuthority(v.authority);
      const allowed = authority !== null && list.allows(v.scheme, authority.host, authority.port);
      assert.equal(allowed, v.allowed, `${v.scheme}://${v.authority} with ${v.allow}`);
    }
  });

  test('a server URL allows the scheme, host and port the component parses', () => {
    for (const v of serverUrls.valid) {
      const entry = serverAllowEntry(v.url);
      assert.deepEqual(entry, { scheme: v.scheme, host: v.host, port: v.port }, v.url);
      const list = new AllowList([entry]);
      const { host, port } = splitAuthority(v.authority);
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

describe('generated WIT tables (src/generated-wit.js)', () => {
  /** Every `{ enum }` and `{ type }` a shape refers to, as `[table, name]`. */
  function refs(shape, out = []) {
    if (!shape) return out;
    if (shape.enum) out.push([OPEN_ENUMS, shape.enum]);
    else if (shape.type) out.push([TYPES, shape.type]);
    else if (shape.list || shape.option) refs(shape.list ?? shape.option, out);
    else for (const inner of shape.tuple ?? Object.values(shape.record ?? shape.variant)) refs(inner, out);
    return out;
  }

  test("name jco's exports and refer only to their own entries", () => {
    const metald = createMetald({ server: 'http://127.0.0.1:9', userId: 'alice', tenantId: 'acme' });
    try {
      for (const [iface, functions] of Object.entries(FUNCTIONS)) {
        const exported = metald.exports[iface];
        assert.ok(exported, `jco exports no ${iface}`);
        for (const [name, shape] of Object.entries(functions)) {
          const [, cls, sep, fn] = /^(?:(\w+)([.#]))?(\w+)$/.exec(name);
          const owner = cls === undefined ? exported : sep === '#' ? exported[cls]?.prototype : exported[cls];
          assert.equal(typeof owner?.[fn], 'function', `${iface} ${name}`);
          for (const [table, ref] of [...(shape.params ?? []), shape.result].flatMap((s) => refs(s))) {
            assert.ok(Object.hasOwn(table, ref), `${name}: ${ref}`);
          }
        }
      }
      for (const [name, shape] of Object.entries(TYPES)) {
        assert.ok(shape.record || shape.variant, name);
        for (const [table, ref] of refs(shape)) assert.ok(Object.hasOwn(table, ref), `${name}: ${ref}`);
      }
    } finally {
      metald.close();
    }
  });
});
