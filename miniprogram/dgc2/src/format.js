// The DGC2 binary layout (docs/offline-codes.md): strict parsing and the signing inputs.
import * as base45 from './base45.js';
import { ascii, concat, readU16, readU32, u16, u32 } from './bytes.js';
import { ED25519, PUBLIC_KEY_LENGTH, SM2 } from './keys.js';

export const PREFIX = 'DGC2:';
export const VER_ALG = { 0x21: ED25519, 0x22: SM2 };
export const VER_OF = { [ED25519]: 0x21, [SM2]: 0x22 };
export const SCENE_BITS = { transit: 0x01, culture: 0x02, public_venue: 0x04 };
export const MAX_LIFETIME = 72 * 3600;
export const CONTEXT = {
  cert: ascii('DGC2/cert\0'), code: ascii('DGC2/code\0'), pop: ascii('DGC2/pop\0'),
  trust: ascii('DGC2/trust\0'), deny: ascii('DGC2/deny\0'),
};

export const certificateLength = (alg) => 22 + PUBLIC_KEY_LENGTH[alg] + 64;
export const codeLength = (alg) => certificateLength(alg) + 70;

export class FormatError extends Error {}

// Certificate bytes -> fields; throws FormatError (gate step 1) for anything the format forbids.
export function parseCertificate(bytes) {
  const alg = VER_ALG[bytes[0]];
  if (!alg) throw new FormatError('unknown ver_alg');
  if (bytes.length !== certificateLength(alg)) throw new FormatError('certificate of the wrong length');
  const keyEnd = 22 + PUBLIC_KEY_LENGTH[alg];
  const cert = {
    verAlg: bytes[0], alg, kid: readU16(bytes, 1), serial: bytes.slice(3, 11), nbf: readU32(bytes, 11), exp: readU32(bytes, 15),
    scenes: bytes[19], fareClass: bytes[20], flags: bytes[21], dpk: bytes.slice(22, keyEnd), isig: bytes.slice(keyEnd),
    tbs: bytes.slice(0, keyEnd), bytes,
  };
  if (cert.scenes & ~0x07 || cert.flags & ~0x01 || cert.fareClass > 3) throw new FormatError('reserved value');
  if (cert.nbf > cert.exp) throw new FormatError('nbf after exp');
  return cert;
}

export function parseCodeBytes(bytes) {
  const alg = VER_ALG[bytes[0]];
  if (!alg) throw new FormatError('unknown ver_alg');
  if (bytes.length !== codeLength(alg)) throw new FormatError('code of the wrong length');
  const end = certificateLength(alg);
  return {
    certificate: parseCertificate(bytes.slice(0, end)), t: readU32(bytes, end), ctr: readU16(bytes, end + 4),
    dsig: bytes.slice(end + 6), unsigned: bytes.slice(0, end + 6), bytes,
  };
}

// Gate step 1: prefix, base45, length, ver_alg, reserved bits, fare class, nbf <= exp.
export function parseCode(text) {
  if (typeof text !== 'string' || !text.startsWith(PREFIX) || text.length > 300) throw new FormatError('not a DGC2 code');
  let bytes;
  try { bytes = base45.decode(text.slice(PREFIX.length)); } catch (error) { throw new FormatError(error.message); }
  return parseCodeBytes(bytes);
}

export const certSigningInput = (tbs) => concat(CONTEXT.cert, tbs);
export const codeSigningInput = (unsigned) => concat(CONTEXT.code, unsigned);
export const popSigningInput = (nonce, devicePublicKey) => concat(CONTEXT.pop, nonce, devicePublicKey);
export const trustSigningInput = (payload) => concat(CONTEXT.trust, payload);
export const denySigningInput = (body) => concat(CONTEXT.deny, body);

export const unsignedCode = (certificateBytes, t, ctr) => concat(certificateBytes, u32(t), u16(ctr));
export const codeText = (bytes) => PREFIX + base45.encode(bytes);
