// The phone side: base45, keys (with the GM/T 0003.5 known answer), proof of possession, codes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { sm2 } from 'sm-crypto-v2';
import * as base45 from '../src/base45.js';
import { ascii, b64url, fromB64url, fromHex } from '../src/bytes.js';
import { CodeSource, Gate, certificateRequest, generateDeviceKey, keyFromPrivate, makeCode, parseCode, ready, verify,
  readDenyList, readRootKey, readTrustList } from '../index.js';

const doc = JSON.parse(readFileSync(new URL('../../../docs/offline-codes/vectors.json', import.meta.url)));

test('base45 matches the RFC 9285 examples and refuses what section 6 refuses', () => {
  assert.equal(base45.encode(ascii('AB')), 'BB8');
  assert.equal(base45.encode(ascii('Hello!!')), '%69 VD92EX0');
  assert.equal(new TextDecoder().decode(base45.decode('QED8WEX0')), 'ietf!');
  for (const bad of ['GGW', 'A', 'ZZ', 'BB8a']) assert.throws(() => base45.decode(bad));
});

test('base64url round trips and refuses padding', () => {
  for (let n = 0; n < 40; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
    assert.deepEqual(fromB64url(b64url(bytes)), bytes);
  }
  assert.throws(() => fromB64url('AA=='));
});

test('SM2 GM/T 0003.5 known answer (GB/T 32918 hashing with ID 1234567812345678)', () => {
  const key = keyFromPrivate('sm2', fromHex('3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8'));
  assert.equal(b64url(key.publicKey), b64url(fromHex('0309F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020')));
  const rs = fromHex('F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3'
    + 'B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA');
  assert.equal(verify('sm2', key.publicKey, ascii('message digest'), rs), true);
  assert.equal(verify('sm2', key.publicKey, ascii('message digesT'), rs), false);
  // The same r || s without Z_A (what a library without {hash: true} would check) does not verify.
  assert.equal(sm2.doVerifySignature(ascii('message digest'), Buffer.from(rs).toString('hex'), key.uncompressed, { hash: false }), false);
});

test('device keys are fresh, and codes made here pass the JS gate', async () => {
  await ready();
  const { keys } = doc;
  for (const [alg, kid] of [['ed25519', 1], ['sm2', 2]]) {
    const a = generateDeviceKey(alg);
    const b = generateDeviceKey(alg);
    assert.notEqual(b64url(a.publicKey), b64url(b.publicKey));
    // Re-using a vector's certificate needs that vector's device key: take the published one.
    const published = keys.device.find((k) => k.alg === alg);
    const device = keyFromPrivate(alg, fromB64url(published.private_key));
    const vector = doc.vectors.find((v) => v.name === `valid_${alg}`);
    const certificate = parseCode(vector.code).certificate.bytes;
    const { context } = vector;
    const trust = readTrustList(context.trust_list, readRootKey(keys.root));
    const gate = new Gate({ trust, deny: readDenyList(fromB64url(context.deny_list), trust.denyListKey), scene: 'transit' });
    const source = new CodeSource({ device, certificate, serverOffset: -3, ctr: 10 });
    const first = source.next(context.now);
    const second = source.next(context.now);
    assert.equal(parseCode(first).certificate.kid, kid);
    assert.deepEqual([parseCode(first).ctr, parseCode(second).ctr, parseCode(first).t], [10, 11, context.now - 3]);
    assert.deepEqual(gate.scan(first, context.now), { accepted: true, reason: null, step: 13 });
    assert.deepEqual(gate.scan(second, context.now), { accepted: true, reason: null, step: 13 });
    assert.deepEqual(gate.scan(first, context.now), { accepted: false, reason: 'code_used', step: 12 });
    assert.throws(() => makeCode(a, certificate, { t: context.now, ctr: 0 }), /another device key/);
  }
});

test('the proof of possession is over DGC2/pop, the nonce and the key', async () => {
  await ready();
  for (const alg of ['ed25519', 'sm2']) {
    const device = generateDeviceKey(alg);
    const nonce = b64url(Uint8Array.from({ length: 16 }, (_, i) => i));
    const body = certificateRequest(device, nonce);
    assert.deepEqual(Object.keys(body).sort(), ['alg', 'device_public_key', 'nonce', 'proof']);
    const message = new Uint8Array([...ascii('DGC2/pop\0'), ...fromB64url(nonce), ...device.publicKey]);
    assert.equal(verify(alg, device.publicKey, message, fromB64url(body.proof)), true);
  }
});
