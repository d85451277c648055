// @citizencard/dgc2: the DGC2 offline code for the mini-program (docs/offline-codes.md).
export { CodeSource, certificateRequest, generateDeviceKey, makeCode, proofOfPossession, ready } from './src/phone.js';
export { randomBytes } from './src/random.js';
export { Gate, check, readDenyList, readRootKey, readTrustList } from './src/verify.js';
export { FormatError, PREFIX, parseCode } from './src/format.js';
export { keyFromPrivate, sign, verify } from './src/keys.js';
export { b64url, fromB64url } from './src/bytes.js';
