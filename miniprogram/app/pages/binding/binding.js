// Real-name binding (POST /api/mp/v1/binding, M-17): name, ID number and the phone on the roster;
// then the e-card. A refusal is shown as a sentence (lib/format.js), never as a code alone.
import { message } from '../../lib/format.js';

Page({
  data: { name: '', id_number: '', phone: '', error: '', busy: false },

  /** bindinput of the three fields (data-field="name" | "id_number" | "phone"). @param {any} event */
  onInput(event) { this.setData({ [event.currentTarget.dataset.field]: event.detail.value, error: '' }); },

  async submit() {
    if (this.data.busy) return;
    this.setData({ busy: true, error: '' });
    const { name, id_number: idNumber, phone } = this.data;
    try {
      await getApp().api.createBinding({ name: name.trim(), id_number: idNumber.trim().toUpperCase(), phone: phone.trim() });
      getApp().bound = true;
      wx.redirectTo({ url: '/pages/ecard/ecard' });
    } catch (error) {
      this.setData({ error: message(/** @type {any} */ (error)) });
    } finally {
      this.setData({ busy: false });
    }
  },
});
