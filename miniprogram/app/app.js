// The reference mini-program (docs/miniprogram-api.md "Reference mini-program"): log in with
// wx.login() at launch; the e-card page does the rest. BASE_URL: the sandbox while developing.
import { CardApi } from './lib/api.js';

const BASE_URL = 'http://127.0.0.1:8000';

App({
  api: new CardApi(BASE_URL, wx.request),
  onLaunch() {
    wx.login({ success: ({ code }) => this.api.wechatLogin(code).then((login) => { this.bound = login.bound; }) });
  },
});
