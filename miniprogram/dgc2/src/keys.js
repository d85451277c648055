// Keys of the two profiles. Ed25519: @noble/curves (RFC 8032, strict verification as OpenSSL).
// SM2: sm-crypto-v2 with GB/T 32918 hashing ({hash: true}: e = SM3(Z_A || M), ID "1234567812345678"),
// public keys 33-byte compressed points, signatures 64 bytes r || s.
import { ed25519 } from '@noble/curves/ed25519.js';
import { sm2 } from 'sm-crypto-v2';
import { fromHex, toHex } from './bytes.js';
import { randomBytes } from './random.js';

export const ED25519 = 'ed25519';
export const SM2 = 'sm2';
export const PUBLIC_KEY_LENGTH = { [ED25519]: 32, [SM2]: 33 };
const SM2_N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;


// {alg, privateKey, publicKey} from a 32-byte private key (Ed25519 seed or SM2 scalar in [1, n-2]).
export function keyFromPrivate(alg, privateKey) {
  if (privateKey.length !== 32) throw new Error('private keys are 32 bytes');
  if (alg === ED25519) return { alg, privateKey, publicKey: ed25519.getPublicKey(privateKey) };
  if (alg !== SM2) throw new Error(`unknown algorithm ${alg}`);
  const d = BigInt('0x' + toHex(privateKey));
  if (d < 1n || d > SM2_N - 2n) throw new Error('SM2 private key out of range');
  const uncompressed = sm2.getPublicKeyFromPrivateKey(toHex(privateKey)); // 04 || x || y, hex: Z_A needs it
  return { alg, privateKey, publicKey: fromHex(sm2.compressPublicKeyHex(uncompressed)), uncompressed };
}

// A fresh device key from the CSPRNG (a new one for each certificate: not a stable identifier).
export function generateKey(alg) {
  for (;;) {
    const seed = randomBytes(32);
    if (alg === ED25519) return keyFromPrivate(alg, seed);
    const d = BigInt('0x' + toHex(seed));
    if (d >= 1n && d <= SM2_N - 2n) return keyFromPrivate(alg, seed); // rejection sampling: uniform
  }
}

export function sign(key, message) {
  if (key.alg === ED25519) return ed25519.sign(message, key.privateKey);
  const publicKey = key.uncompressed ?? sm2.getPublicKeyFromPrivateKey(toHex(key.privateKey));
  return fromHex(sm2.doSignature(message, toHex(key.privateKey), { hash: true, der: false, publicKey }));
}

export function verify(alg, publicKey, message, signature) {
  if (signature.length !== 64 || publicKey.length !== PUBLIC_KEY_LENGTH[alg]) return false;
  try {
    if (alg === ED25519) return ed25519.verify(signature, message, publicKey, { zip215: false });
    const r = BigInt('0x' + toHex(signature.slice(0, 32)));
    const s = BigInt('0x' + toHex(signature.slice(32)));
    if (r < 1n || r >= SM2_N || s < 1n || s >= SM2_N) return false;
    return sm2.doVerifySignature(message, toHex(signature), toHex(publicKey), { hash: true, der: false });
  } catch {
    return false; // not a point of the curve, or not a key at all
  }
}
