// Randomness: keys and SM2 nonces come from a CSPRNG only. Math.random is never consulted, and
// with no CSPRNG at all key generation throws instead of falling back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateDeviceKey, ready } from '../index.js';
import { sign } from '../src/keys.js';

test('Math.random is never called to make keys or SM2 signatures', async () => {
  await ready();
  const original = Math.random;
  Math.random = () => { throw new Error('Math.random used'); };
  try {
    for (const alg of ['ed25519', 'sm2']) sign(generateDeviceKey(alg), new Uint8Array(8));
  } finally {
    Math.random = original;
  }
});

test('without a CSPRNG, key generation throws', () => {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true });
  try {
    assert.throws(() => generateDeviceKey('ed25519'), /no cryptographic random source/);
  } finally {
    Object.defineProperty(globalThis, 'crypto', descriptor);
  }
});
