// lib/offline.js and the e-card page's offline codes: DGC2 certificates provisioned while online,
// DGC2 ride codes and DGC1 codes for other scenes with no network, refusals never replaced by an
// offline code. The certificates here are signed by a test issuer key; tests/unit/
// test_miniprogram_app_js.py checks the page's codes with the platform's own (Python) gate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { b64url, fromB64url, keyFromPrivate, parseCode, sign, verify } from '@citizencard/dgc2';
import { ApiError } from '../lib/api.js';
import { OfflineCard, STORAGE_KEY, installationId } from '../lib/offline.js';

const ISSUER = keyFromPrivate('ed25519', new Uint8Array(32).fill(7));
const ascii = (text) => new TextEncoder().encode(text);

/** Certificate bytes 0-118 for ``dpk`` (docs/offline-codes.md), signed by ISSUER. */
function certificate(dpk, nbf, exp) {
  const tbs = new Uint8Array(54);
  const view = new DataView(tbs.buffer);
  tbs[0] = 0x21; view.setUint16(1, 9); tbs.set([1, 2, 3, 4, 5, 6, 7, 8], 3);
  view.setUint32(11, nbf); view.setUint32(15, exp); tbs[19] = 0x07; tbs[20] = 1; tbs[21] = 0; tbs.set(dpk, 22);
  const isig = sign(ISSUER, new Uint8Array([...ascii('DGC2/cert\0'), ...tbs]));
  return new Uint8Array([...tbs, ...isig]);
}

/** An in-memory SecureStorage that counts writes. */
function memoryStorage() {
  const kept = new Map();
  return { kept, writes: 0, get: async (key) => kept.get(key) ?? null, async set(key, value) { this.writes += 1; kept.set(key, structuredClone(value)); } };
}

/** A server double for the two offline calls (shapes of docs/openapi.json), clock ``serverTime``. */
function server(serverTime) {
  const api = { challenges: 0, requests: [],
    postChallenge: async (id) => { api.challenges += 1; api.lastInstallation = id; return { nonce: b64url(new Uint8Array(16).fill(api.challenges)), server_time: serverTime }; },
    postCertificates: async (request) => {
      api.requests.push(request);
      const cert = certificate(fromB64url(request.device_public_key), serverTime, serverTime + 86400);
      return { certificates: [{ certificate: b64url(cert), serial: '0102030405060708', not_before: serverTime, expires: serverTime + 86400 }],
        server_time: serverTime, refresh_after: serverTime + 43200 };
    },
  };
  return api;
}

test('provision: a fresh device key per certificate; codes carry the server time and a counter saved first', async () => {
  const storage = memoryStorage();
  const api = server(1_800_000_000);
  const card = await OfflineCard.provision(api, 'a'.repeat(32), storage, { nowSeconds: 1_800_000_000 - 40 }); // phone 40 s slow
  const again = await OfflineCard.provision(api, 'a'.repeat(32), memoryStorage(), { nowSeconds: 1_800_000_000 });
  assert.notEqual(api.requests[0].device_public_key, api.requests[1].device_public_key);
  assert.notEqual(card.state.private_key, again.state.private_key);

  const first = parseCode(await card.next(1_800_000_000 - 40));
  const second = parseCode(await card.next(1_800_000_000 - 10));
  assert.deepEqual([first.t, first.ctr, second.t, second.ctr], [1_800_000_000, 0, 1_800_000_030, 1]);
  assert.ok(verify('ed25519', ISSUER.publicKey, new Uint8Array([...ascii('DGC2/cert\0'), ...first.certificate.tbs]), first.certificate.isig));
  assert.ok(verify('ed25519', first.certificate.dpk, new Uint8Array([...ascii('DGC2/code\0'), ...first.unsigned]), first.dsig));
  assert.equal(storage.kept.get(STORAGE_KEY).ctr, 2); // saved before the code was returned
  const reloaded = await OfflineCard.load(storage);
  assert.equal(parseCode(await reloaded.next(1_800_000_000)).ctr, 2); // never the same (serial, ctr) twice
});

test('an expired certificate or a spent counter makes no code; refresh_after asks for a new one', async () => {
  const storage = memoryStorage();
  const card = await OfflineCard.provision(server(1_800_000_000), 'b'.repeat(32), storage, { nowSeconds: 1_800_000_000 });
  assert.equal(card.needsRefresh(1_800_000_000 + 43199), false);
  assert.equal(card.needsRefresh(1_800_000_000 + 43200), true);
  assert.equal(await card.next(1_800_000_000 + 86401), null);
  card.state.ctr = 0xffff;
  assert.ok(await card.next(1_800_000_000));
  assert.equal(await card.next(1_800_000_000), null);
});

test('the installation id is 32 random hex digits, made once', async () => {
  const storage = memoryStorage();
  const id = await installationId(storage);
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.equal(await installationId(storage), id);
  assert.notEqual(await installationId(memoryStorage()), id);
});

const pages = {};
globalThis.Page = (definition) => { pages.ecard = definition; };
const app = { api: null, bound: true };
globalThis.getApp = () => app;
globalThis.wx = { redirectTo: () => undefined };
await import('../pages/ecard/ecard.js');

function ecardPage(storage) {
  const page = { ...pages.ecard, data: structuredClone(pages.ecard.data), storage, offlineCard: null };
  page.setData = (changes) => { Object.assign(page.data, changes); };
  page.canvasContext = async () => ({ fillStyle: '', fillRect: () => undefined });
  return page;
}

test('e-card: online it keeps the seed and a certificate ready; offline it shows DGC2, or DGC1 for other scenes', async () => {
  const storage = memoryStorage();
  const now = Math.floor(Date.now() / 1000);
  const online = server(now);
  const seeds = [];
  app.api = { ...online, getCode: async () => ({ code: 'DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790', refresh_in: 12 }),
    postSeed: async (id) => { seeds.push(id); return { seed: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', pseudonym: 'MFRGGZDFMZTWQ2LK' }; } };
  const page = ecardPage(storage);
  await page.onShow();
  await page.onShow(); // nothing is provisioned twice while the certificate is fresh
  page.onHide();
  assert.equal(page.data.offline, false);
  assert.equal(seeds.length, 1);
  assert.equal(online.requests.length, 1);
  assert.equal(seeds[0], online.lastInstallation);

  app.api = { getCode: async () => { throw new Error('request:fail timeout'); } };
  const offline = ecardPage(storage);
  await offline.onShow();
  offline.onHide();
  assert.equal(offline.data.offline, true);
  assert.equal(parseCode(offline.data.code).ctr, 0);
  await offline.afterScan();
  offline.onHide();
  assert.equal(parseCode(offline.data.code).ctr, 1);
  await offline.switchKind();
  offline.onHide();
  assert.match(offline.data.code, /^DGC1:MFRGGZDFMZTWQ2LK\.\d{9}\.00\.\d{8}$/);
});

test('e-card: a refusal (card_inactive) is shown as a sentence, never replaced by an offline code', async () => {
  const storage = memoryStorage();
  await OfflineCard.provision(server(Math.floor(Date.now() / 1000)), 'c'.repeat(32), storage);
  app.api = { getCode: async () => { throw new ApiError(403, { code: 'card_inactive', message: '', details: {} }); } };
  const page = ecardPage(storage);
  await page.onShow();
  page.onHide();
  assert.equal(page.data.code, '');
  assert.equal(page.data.offline, false);
  assert.match(page.data.refused, /挂失/);
});
