// The DGC1 e-card code made on the phone (docs/qr-format.md): the same text the server's
// GET /api/mp/v1/card/code gives, from the seed POST /api/mp/v1/card/seed provisioned, so the
// e-card works with no network. DGC1:<pseudonym>.<step, 9 digits>.<sequence, 2 digits>.<otp, 8 digits>,
// otp = HOTP-SHA1(seed, C = step * 100 + sequence), 8 digits (RFC 4226, RFC 6238 steps of 30 s).
import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';

export const STEP_SECONDS = 30;
export const SEQUENCES_PER_STEP = 100;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (upper case, no padding needed) to bytes. @param {string} text @returns {Uint8Array} */
export function base32Decode(text) {
  const clean = text.replace(/=+$/, '');
  const out = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error('not base32');
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

/** The 30 s time step of a Unix time. @param {number} unixSeconds @returns {number} */
export function timeStep(unixSeconds) {
  return Math.floor(unixSeconds / STEP_SECONDS);
}

/** HOTP (RFC 4226), 8 digits. @param {Uint8Array} key @param {number} counter @returns {string} */
export function hotp(key, counter) {
  const message = new Uint8Array(8);
  let rest = counter;
  for (let i = 7; i >= 0; i -= 1) {
    message[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  const digest = hmac(sha1, key, message);
  const offset = digest[19] & 0x0f;
  const binary = ((digest[offset] & 0x7f) << 24) | (digest[offset + 1] << 16) | (digest[offset + 2] << 8) | digest[offset + 3];
  return String(binary % 100000000).padStart(8, '0');
}

/**
 * The DGC1 code for (step, sequence).
 * @param {{seed: string, pseudonym: string}} device from POST /card/seed (keep the seed in secure storage)
 * @param {number} step @param {number} sequence 0-99
 * @returns {string}
 */
export function makeCode(device, step, sequence) {
  if (!Number.isInteger(sequence) || sequence < 0 || sequence >= SEQUENCES_PER_STEP) throw new RangeError('sequence must be 0-99');
  const otp = hotp(base32Decode(device.seed), step * SEQUENCES_PER_STEP + sequence);
  return `DGC1:${device.pseudonym}.${String(step).padStart(9, '0')}.${String(sequence).padStart(2, '0')}.${otp}`;
}
