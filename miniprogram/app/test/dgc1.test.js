// DGC1 on the phone: RFC 4226's HOTP vectors (8 digits), the format, the sequence range. The same
// codes as the server's: tests/unit/test_miniprogram_app_js.py compares with qr.totp.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { base32Decode, hotp, makeCode } from '../lib/dgc1.js';

const RFC4226_KEY = new TextEncoder().encode('12345678901234567890');

test('RFC 4226 appendix D, 8 digits', () => {
  // The 6-digit vectors 755224, 287082 are the last digits of these (binary % 10^8).
  assert.equal(hotp(RFC4226_KEY, 0), '84755224');
  assert.equal(hotp(RFC4226_KEY, 1), '94287082');
});

test('base32 of the RFC key', () => {
  assert.deepEqual(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), RFC4226_KEY);
});

test('the code text and its sequence range', () => {
  const device = { seed: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', pseudonym: 'MFRGGZDFMZTWQ2LK' };
  assert.match(makeCode(device, 59312345, 0), /^DGC1:MFRGGZDFMZTWQ2LK\.059312345\.00\.[0-9]{8}$/);
  assert.throws(() => makeCode(device, 59312345, 100), RangeError);
});
