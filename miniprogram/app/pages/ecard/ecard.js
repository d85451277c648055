// The e-card page: a new code at every 30 s step and right after a scan (lib/refresh.js); online
// from GET /card/code, offline (no network) made here from the provisioned seed (lib/dgc1.js);
// drawn as a QR code on a 2D canvas (lib/qr.js), like the server's PNG.
import { makeCode } from '../../lib/dgc1.js';
import { drawQr, qrMatrix } from '../../lib/qr.js';
import { CodeSchedule } from '../../lib/refresh.js';

export const QR_SIZE_PX = 600; // the canvas' backing size: 2x a 300 px square on a 2x screen

Page({
  data: { code: '', offline: false, refreshIn: 30 },
  schedule: new CodeSchedule(),
  timer: 0,

  onShow() {
    if (getApp().bound === false) {
      wx.redirectTo({ url: '/pages/binding/binding' });
      return undefined;
    }
    return this.show();
  },
  onHide() { clearTimeout(this.timer); },
  afterScan() { return this.show(); },

  async show() {
    clearTimeout(this.timer);
    const { api } = getApp();
    const now = Date.now() / 1000;
    try {
      const online = await api.getCode();
      this.setData({ code: online.code, offline: false, refreshIn: online.refresh_in });
    } catch (error) {
      const device = wx.getStorageSync('device'); // {seed, pseudonym} from POST /card/seed
      const next = device && this.schedule.next(now);
      if (next) this.setData({ code: makeCode(device, next.step, next.sequence), offline: true });
    }
    if (this.data.code) await this.draw(this.data.code);
    this.timer = setTimeout(() => this.show(), CodeSchedule.msUntilNextStep(Date.now() / 1000));
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
