// A reference gate verifier in JavaScript: steps 1-13 of docs/offline-codes.md, the same as the
// Python terminal verifier (an independent implementation the published vectors are run through).
import { compare, fromB64url, readU32, toHex } from './bytes.js';
import { SCENE_BITS, certSigningInput, codeSigningInput, denySigningInput, parseCode, trustSigningInput } from './format.js';
import { PUBLIC_KEY_LENGTH, verify } from './keys.js';

const refuse = (step, reason) => ({ accepted: false, reason, step });
const INVALID = 'code_invalid';

function key(alg, publicKey) {
  const raw = fromB64url(publicKey);
  if (raw.length !== PUBLIC_KEY_LENGTH[alg]) throw new Error('bad key');
  return { alg, raw };
}

export function readRootKey(doc) {
  return { rootKid: doc.root_kid, ...key(doc.alg, doc.public_key) };
}

export function readTrustList(doc, root) {
  if (doc.root_kid !== root.rootKid || doc.alg !== root.alg) throw new Error('trust list signed by another root key');
  const payload = fromB64url(doc.payload);
  if (!verify(root.alg, root.raw, trustSigningInput(payload), fromB64url(doc.signature))) throw new Error('bad trust list signature');
  const body = JSON.parse(new TextDecoder().decode(payload));
  const keys = new Map(body.keys.map((k) => [k.kid, { ...key(k.alg, k.public_key), notBefore: k.not_before, notAfter: k.not_after }]));
  return { version: body.version, keys, denyListKey: key(body.deny_list_key.alg, body.deny_list_key.public_key) };
}

export function readDenyList(bytes, denyKey) {
  const body = bytes.slice(0, -64);
  if (!verify(denyKey.alg, denyKey.raw, denySigningInput(body), bytes.slice(-64))) throw new Error('bad deny list signature');
  if (new TextDecoder().decode(body.slice(0, 4)) !== 'DGCD' || body[16] !== 8) throw new Error('not a full deny list');
  const count = readU32(body, 17);
  if (body.length !== 21 + 8 * count) throw new Error('deny list of the wrong length');
  const serials = new Set();
  for (let i = 0; i < count; i++) {
    const serial = body.slice(21 + 8 * i, 29 + 8 * i);
    if (i > 0 && compare(body.slice(13 + 8 * i, 21 + 8 * i), serial) >= 0) throw new Error('deny list not ascending');
    serials.add(toHex(serial));
  }
  return { version: readU32(body, 4), issuedAt: readU32(body, 8), serials };
}

// Steps 1-11 (no memory).
export function check(text, { trust, deny, scene, now }) {
  let code;
  try { code = parseCode(text); } catch { return refuse(1, INVALID); }
  const cert = code.certificate;
  const issuer = trust.keys.get(cert.kid);
  if (!issuer || issuer.alg !== cert.alg) return refuse(2, INVALID);
  if (cert.exp - cert.nbf > 72 * 3600 || cert.nbf < issuer.notBefore || cert.exp > issuer.notAfter) return refuse(3, INVALID);
  if (!verify(cert.alg, issuer.raw, certSigningInput(cert.tbs), cert.isig)) return refuse(4, INVALID);
  if (!verify(cert.alg, cert.dpk, codeSigningInput(code.unsigned), code.dsig)) return refuse(5, INVALID);
  if (now > cert.exp + 20) return refuse(6, 'code_expired');
  if (code.t < cert.nbf || code.t > cert.exp || code.t > now + 20) return refuse(7, INVALID);
  if (code.t < now - 60) return refuse(8, 'code_expired');
  if (!(cert.scenes & (SCENE_BITS[scene] ?? 0))) return refuse(9, 'scene_not_permitted');
  if (!deny || now - deny.issuedAt > 15 * 60) return refuse(10, 'scene_unavailable');
  if (deny.serials.has(toHex(cert.serial))) return refuse(11, 'card_inactive');
  return { accepted: true, reason: null, step: 12, code };
}

// One terminal: steps 1-13 with its seen-set (serial, ctr) and anti-passback memory (120 s).
export class Gate {
  constructor({ trust, deny, scene, terminalId = 'js-gate' }) {
    Object.assign(this, { trust, deny, scene, terminalId, seen: new Set(), lastUse: new Map(), records: [] });
  }

  scan(text, now) {
    const decision = check(text, { trust: this.trust, deny: this.deny, scene: this.scene, now });
    if (!decision.accepted) return decision;
    const { certificate: cert, ctr } = decision.code;
    const serial = toHex(cert.serial);
    const last = this.lastUse.get(serial);
    if (this.seen.has(`${serial}:${ctr}`) || (cert.flags & 1 && last !== undefined && now - last < 120)) return refuse(12, 'code_used');
    this.seen.add(`${serial}:${ctr}`);
    this.lastUse.set(serial, now);
    this.records.push({ terminal_id: this.terminalId, scene: this.scene, scanned_at: now, code: text });
    return { accepted: true, reason: null, step: 13 };
  }
}
