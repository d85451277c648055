// The e-card page: a new code at every 30 s step and right after a scan (lib/refresh.js); online
// from GET /card/code, offline (no network) made here from the provisioned seed (lib/dgc1.js).
import { makeCode } from '../../lib/dgc1.js';
import { CodeSchedule } from '../../lib/refresh.js';

Page({
  data: { code: '', offline: false, refreshIn: 30 },
  schedule: new CodeSchedule(),
  timer: 0,

  onShow() { this.show(); },
  onHide() { clearTimeout(this.timer); },
  afterScan() { this.show(); },

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
    this.timer = setTimeout(() => this.show(), CodeSchedule.msUntilNextStep(Date.now() / 1000));
  },
});
