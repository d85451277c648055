// The worked example of docs/partner-api.md as the test vector.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { authorization, sign, verifyStatement } from '../src/partner.js';

const BODY = Buffer.from('{"code":"DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790","scene":"transit","terminal_id":"gate-A01"}');

test('the worked example of docs/partner-api.md', () => {
  assert.equal(sign('example-secret-do-not-use', 'POST', '/api/partner/v1/verifications', '1779370355', '5f2b8c0e9d1a4b7c', BODY),
    'FkWKWXXC5gPhn4TTSAkYSujr4Yi6nsUUd3Mf8VmOLHg=');
});

test('the header carries the four parameters', () => {
  const header = authorization({ partnerId: 'p_0123456789abcdef', secret: 'example-secret-do-not-use' }, 'POST',
    '/api/partner/v1/verifications', BODY, { timestamp: '1779370355', nonce: '5f2b8c0e9d1a4b7c' });
  assert.equal(header, 'CC-HMAC-SHA256 partner_id="p_0123456789abcdef",timestamp="1779370355",'
    + 'nonce="5f2b8c0e9d1a4b7c",signature="FkWKWXXC5gPhn4TTSAkYSujr4Yi6nsUUd3Mf8VmOLHg="');
});

test('a changed statement fails its signature', () => {
  const body = 'verification_id,accepted\nvf_1,true\n';
  const signed = `${body}#signature,HMAC-SHA256,${createHmac('sha256', 's').update(body).digest('base64')}\n`;
  assert.equal(verifyStatement(signed, 's'), body);
  assert.throws(() => verifyStatement(signed.replace('true', 'fals'), 's'));
});

test('an answer verifies with the platform key, and not with a changed byte or another nonce', async () => {
  const { generateKeyPairSync, sign: signEd25519 } = await import('node:crypto');
  const { verifyAnswer } = await import('../src/partner.js');
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const body = Buffer.from('{"accepted":true}');
  const signature = signEd25519(null, Buffer.from(`1779370355\nnonce-1\n${body}\n`), privateKey).toString('base64');
  const headers = new Headers({ 'CC-Serial': 'r1', 'CC-Timestamp': '1779370355', 'CC-Nonce': 'nonce-1', 'CC-Signature': signature });
  const keys = new Map([['r1', publicKey]]);
  assert.equal(verifyAnswer(headers, body, 'nonce-1', keys), true);
  assert.throws(() => verifyAnswer(headers, Buffer.from('{"accepted":fals}'), 'nonce-1', keys), /does not verify/);
  assert.throws(() => verifyAnswer(headers, body, 'nonce-2', keys), /another request/);
  assert.throws(() => verifyAnswer(headers, body, 'nonce-1', new Map()), /known platform key/);
});
