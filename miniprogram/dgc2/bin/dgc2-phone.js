#!/usr/bin/env node
// The phone side as a command, for tests and for gate vendors who want codes from a device key.
// Reads one JSON request on stdin, prints one JSON answer:
//   {"op": "request", "alg": "ed25519"|"sm2", "nonce": b64url}
//     -> {"device": {"alg", "private_key", "public_key"}, "request": {nonce, alg, device_public_key, proof}}
//   {"op": "codes", "device": {"alg", "private_key"}, "certificate": b64url, "codes": [{"t", "ctr"}]}
//     -> {"codes": ["DGC2:...", ...]}
import { readFileSync } from 'node:fs';
import { b64url, certificateRequest, fromB64url, generateDeviceKey, keyFromPrivate, makeCode, ready } from '../index.js';

await ready();
const request = JSON.parse(readFileSync(0, 'utf8'));
let answer;
if (request.op === 'request') {
  const device = generateDeviceKey(request.alg);
  answer = { device: { alg: device.alg, private_key: b64url(device.privateKey), public_key: b64url(device.publicKey) },
    request: certificateRequest(device, request.nonce) };
} else if (request.op === 'codes') {
  const device = keyFromPrivate(request.device.alg, fromB64url(request.device.private_key));
  answer = { codes: request.codes.map(({ t, ctr }) => makeCode(device, request.certificate, { t, ctr })) };
} else {
  console.error('op must be request or codes');
  process.exit(2);
}
console.log(JSON.stringify(answer));
