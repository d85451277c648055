// The e-card page: a new code at every 30 s step and right after a scan (lib/refresh.js). Online
// from GET /card/code. With no network (wx.request fails; a refusal such as card_inactive is shown,
// never replaced by an offline code) the code is made here: the DGC2 ride code (lib/offline.js),
// which gates, buses and venues verify with no network either, or, for the other scenes (hospitals,
// government windows: "其他场景"), the DGC1 code from the provisioned seed (lib/dgc1.js). While online
// the page keeps both ready: the seed once per installation, a DGC2 certificate when the server's
// refresh_after has passed. Drawn as a QR code on a 2D canvas (lib/qr.js), like the server's PNG.
import { ApiError } from '../../lib/api.js';
import { makeCode } from '../../lib/dgc1.js';
import { message } from '../../lib/format.js';
import { OfflineCard, installationId, wechatSecureStorage } from '../../lib/offline.js';
import { drawQr, qrMatrix } from '../../lib/qr.js';
import { CodeSchedule } from '../../lib/refresh.js';

export const QR_SIZE_PX = 600; // the canvas' backing size: 2x a 300 px square on a 2x screen
const SEED_KEY = 'device'; // {seed, pseudonym} from POST /card/seed, in encrypted storage

Page({
  data: { code: '', offline: false, kind: 'ride', refused: '', refreshIn: 30 },
  schedule: new CodeSchedule(),
  timer: 0,
  /** @type {import('../../lib/offline.js').SecureStorage | null} encrypted storage (a test gives its own) */
  storage: null,
  /** @type {OfflineCard | null} */
  offlineCard: null,

  onShow() {
    if (getApp().bound === false) {
      wx.redirectTo({ url: '/pages/binding/binding' });
      return undefined;
    }
    return this.show();
  },
  onHide() { clearTimeout(this.timer); },
  afterScan() { return this.show(); },
  /** Offline: the ride code (DGC2) or the code for the other scenes (DGC1). */
  switchKind() {
    this.setData({ kind: this.data.kind === 'ride' ? 'other' : 'ride' });
    return this.show();
  },

  secureStorage() { return this.storage ?? (this.storage = wechatSecureStorage(wx)); },

  async show() {
    clearTimeout(this.timer);
    const { api } = getApp();
    const now = Math.floor(Date.now() / 1000);
    try {
      const online = await api.getCode();
      this.setData({ code: online.code, offline: false, refused: '', refreshIn: online.refresh_in });
      await this.prepareOffline(api, now).catch(() => undefined); // a convenience: the online code is shown anyway
    } catch (error) {
      if (error instanceof ApiError) {
        this.setData({ code: '', offline: false, refused: message(error) });
        return;
      }
      this.setData({ code: (await this.offlineCode(now)) ?? '', offline: true, refused: '' });
    }
    if (this.data.code) await this.draw(this.data.code);
    this.timer = setTimeout(() => this.show(), CodeSchedule.msUntilNextStep(Date.now() / 1000));
  },

  /** Online: the DGC1 seed once per installation, a DGC2 certificate when due. @param {any} api @param {number} now */
  async prepareOffline(api, now) {
    const storage = this.secureStorage();
    const id = await installationId(storage);
    if (!(await storage.get(SEED_KEY))) {
      const { seed, pseudonym } = await api.postSeed(id);
      await storage.set(SEED_KEY, { seed, pseudonym });
    }
    this.offlineCard = this.offlineCard ?? (await OfflineCard.load(storage));
    if (!this.offlineCard || this.offlineCard.needsRefresh(now)) {
      this.offlineCard = await OfflineCard.provision(api, id, storage, { nowSeconds: now });
    }
  },

  /** With no network: DGC2 for rides and venues (DGC1 if it has no certificate), else DGC1. @param {number} now */
  async offlineCode(now) {
    const storage = this.secureStorage();
    if (this.data.kind === 'ride') {
      this.offlineCard = this.offlineCard ?? (await OfflineCard.load(storage));
      const ride = this.offlineCard && (await this.offlineCard.next(now));
      if (ride) return ride;
    }
    const device = await storage.get(SEED_KEY);
    const next = device && this.schedule.next(now);
    return next ? makeCode(device, next.step, next.sequence) : null;
  },

  /** Draw ``code`` on <canvas id="qr" type="2d">. @param {string} code */
  async draw(code) {
    const ctx = await this.canvasContext();
    drawQr(ctx, qrMatrix(code), QR_SIZE_PX);
  },

  /** The 2D context of the page's canvas (wx.createSelectorQuery; a test gives its own). */
  canvasContext() {
    return new Promise((resolve) => {
      wx.createSelectorQuery().select('#qr').fields({ node: true, size: true }).exec((/** @type {any[]} */ found) => {
        const canvas = found[0].node;
        canvas.width = QR_SIZE_PX;
        canvas.height = QR_SIZE_PX;
        resolve(canvas.getContext('2d'));
      });
    });
  },
});
