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
