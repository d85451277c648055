// The e-card's offline ride code, DGC2 (docs/offline-codes.md §6, docs/miniprogram-api.md "Offline
// codes"): gates, buses and venues verify it with no network on either side. While online the page
// keeps a device certificate (a fresh device key for each, POST /card/offline/challenge then
// /card/offline/certificates); with no network it makes codes here from that certificate.
// DGC2 is accepted in transit, culture and public venues only; other scenes need the DGC1 code.
//
// The state ({alg, private_key, certificate, serial, expires, refresh_after, server_offset, ctr})
// lives in ``storage``: in WeChat wx.getStorage / wx.setStorage with ``encrypt: true`` (the
// private key must never be logged or stored in the clear). The counter is saved *before* a code is
// returned, so no (serial, ctr) is ever shown twice, even if the app is killed right after.
import { b64url, certificateRequest, fromB64url, generateDeviceKey, keyFromPrivate, makeCode, randomBytes, ready } from '@citizencard/dgc2';

export const STORAGE_KEY = 'dgc2';
const INSTALLATION_KEY = 'installation_id';
const MAX_CTR = 0xffff;

/**
 * @typedef {{alg: string, private_key: string, certificate: string, serial: string, expires: number,
 *   refresh_after: number, server_offset: number, ctr: number}} OfflineState
 * @typedef {{get(key: string): Promise<any>, set(key: string, value: any): Promise<void>}} SecureStorage
 */

export class OfflineCard {
  /** @param {OfflineState} state @param {SecureStorage} storage */
  constructor(state, storage) {
    this.state = state;
    this.storage = storage;
    this.device = keyFromPrivate(state.alg, fromB64url(state.private_key));
  }

  /** The stored certificate, or null when none was provisioned. @param {SecureStorage} storage */
  static async load(storage) {
    const state = await storage.get(STORAGE_KEY);
    return state ? new OfflineCard(state, storage) : null;
  }

  /**
   * A new certificate for a fresh device key (online). ``api`` is lib/api.js's CardApi; errors are its
   * ApiError (403 card_inactive / installation_not_current, 409 too_many_certificates, 429, 503
   * offline_unavailable: docs/miniprogram-api.md). @param {any} api @param {string} installationId
   * @param {SecureStorage} storage @param {{alg?: string, nowSeconds?: number}} [options]
   */
  static async provision(api, installationId, storage, { alg = 'ed25519', nowSeconds = Math.floor(Date.now() / 1000) } = {}) {
    await ready();
    const challenge = await api.postChallenge(installationId);
    const device = generateDeviceKey(alg);
    const answer = await api.postCertificates(certificateRequest(device, challenge.nonce));
    const issued = answer.certificates[0];
    /** @type {OfflineState} */
    const state = {
      alg, private_key: b64url(device.privateKey), certificate: issued.certificate, serial: issued.serial,
      expires: issued.expires, refresh_after: answer.refresh_after, server_offset: answer.server_time - nowSeconds, ctr: 0,
    };
    await storage.set(STORAGE_KEY, state);
    return new OfflineCard(state, storage);
  }

  /** Whether the server asks for a new certificate by now (refresh_after passed). @param {number} nowSeconds */
  needsRefresh(nowSeconds) {
    return nowSeconds + this.state.server_offset >= this.state.refresh_after;
  }

  /**
   * The next DGC2 code at ``nowSeconds`` (phone clock; the server offset is added), or null when the
   * certificate expired or its 65,536 codes are spent (then provision a new one when online).
   * @param {number} nowSeconds @returns {Promise<string | null>}
   */
  async next(nowSeconds) {
    const t = nowSeconds + this.state.server_offset;
    const { ctr } = this.state;
    if (t > this.state.expires || ctr > MAX_CTR) return null;
    this.state = { ...this.state, ctr: ctr + 1 };
    await this.storage.set(STORAGE_KEY, this.state);
    return makeCode(this.device, this.state.certificate, { t, ctr });
  }
}

/**
 * This installation's id for POST /card/seed and /card/offline/challenge: 32 random hex digits made
 * once and kept (docs/miniprogram-api.md "Show the code"). @param {SecureStorage} storage @returns {Promise<string>}
 */
export async function installationId(storage) {
  const kept = await storage.get(INSTALLATION_KEY);
  if (kept) return kept;
  await ready();
  const id = Array.from(randomBytes(16), (byte) => byte.toString(16).padStart(2, '0')).join('');
  await storage.set(INSTALLATION_KEY, id);
  return id;
}

/** WeChat's encrypted storage (base library 2.21.3+) as a SecureStorage. @param {any} wx @returns {SecureStorage} */
export function wechatSecureStorage(wx) {
  return {
    get: (key) => new Promise((resolve) => {
      wx.getStorage({ key, encrypt: true, success: (/** @type {{data: any}} */ found) => resolve(found.data), fail: () => resolve(null) });
    }),
    set: (key, value) => new Promise((resolve, reject) => {
      wx.setStorage({ key, data: value, encrypt: true, success: () => resolve(undefined), fail: reject });
    }),
  };
}
