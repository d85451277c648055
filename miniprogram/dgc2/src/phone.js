// The phone side (mini-program): device key, proof of possession, codes (issue 16).
//
//   await ready();                                   // CSPRNG (wx.getRandomValues in WeChat)
//   const device = generateDeviceKey('ed25519');     // a fresh key for each certificate
//   const body = certificateRequest(device, nonce);  // POST /api/mp/v1/card/offline/certificates
//   const source = new CodeSource({ device, certificate, serverOffset });
//   const text = source.next();                       // DGC2:... for the QR code (alphanumeric, level M)
//
// Keep device.privateKey in encrypted storage (wx.setStorage({encrypt: true})); never log it.
import { b64url, concat, fromB64url, u16, u32 } from './bytes.js';
import { codeSigningInput, codeText, parseCertificate, popSigningInput } from './format.js';
import { generateKey, sign } from './keys.js';

export { ready } from './random.js';

export const generateDeviceKey = (alg = 'ed25519') => generateKey(alg);

// The device's signature over b"DGC2/pop\0" + nonce + dpk (64 bytes).
export function proofOfPossession(device, nonce) {
  return sign(device, popSigningInput(nonce, device.publicKey));
}

// The body of POST /api/mp/v1/card/offline/certificates for the challenge's nonce (base64url).
export function certificateRequest(device, nonce) {
  return { nonce, alg: device.alg, device_public_key: b64url(device.publicKey),
    proof: b64url(proofOfPossession(device, fromB64url(nonce))) };
}

// One code: the certificate (bytes or base64url), t (Unix seconds, server-corrected), ctr (0-65535).
export function makeCode(device, certificate, { t, ctr }) {
  const bytes = typeof certificate === 'string' ? fromB64url(certificate) : certificate;
  const cert = parseCertificate(bytes);
  if (cert.alg !== device.alg || b64url(cert.dpk) !== b64url(device.publicKey)) throw new Error('certificate of another device key');
  if (!Number.isInteger(t) || t < 0 || t > 0xffffffff || !Number.isInteger(ctr) || ctr < 0 || ctr > 0xffff) {
    throw new Error('t or ctr out of range');
  }
  const unsigned = concat(bytes, u32(t), u16(ctr));
  return codeText(concat(unsigned, sign(device, codeSigningInput(unsigned))));
}

// Codes for one certificate: ctr +1 for each code shown, t from the phone clock + serverOffset
// (server_time - local time at the last answer). Persist `ctr` with the key so it never repeats.
export class CodeSource {
  constructor({ device, certificate, serverOffset = 0, ctr = 0 }) {
    Object.assign(this, { device, certificate, serverOffset, ctr });
    this.cert = parseCertificate(typeof certificate === 'string' ? fromB64url(certificate) : certificate);
  }

  next(nowSeconds = Math.floor(Date.now() / 1000)) {
    const t = nowSeconds + this.serverOffset;
    if (t > this.cert.exp) throw new Error('certificate expired: fetch a new one');
    if (this.ctr > 0xffff) throw new Error('counter exhausted: fetch a new certificate');
    const text = makeCode(this.device, this.certificate, { t, ctr: this.ctr });
    this.ctr += 1;
    return text;
  }
}
