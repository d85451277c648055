// Complaints and consultations (M-14): file one (category from GET /complaint-categories) and see
// one's own tickets with their deadlines at +08:00.
import { cityTime, message } from '../../lib/format.js';

Page({
  data: { categories: /** @type {any[]} */ ([]), tickets: /** @type {any[]} */ ([]), category: '', description: '', error: '', sent: '' },

  async onShow() {
    try {
      const [categories, list] = await Promise.all([getApp().api.getCategories(), getApp().api.getComplaints()]);
      this.setData({ categories, tickets: list.items.map((/** @type {any} */ t) => ({ ...t, due: cityTime(t.resolution_due) })) });
    } catch (error) {
      this.setData({ error: message(/** @type {any} */ (error)) });
    }
  },
  /** @param {any} event */
  onCategory(event) { this.setData({ category: this.data.categories[event.detail.value].key }); },
  /** @param {any} event */
  onDescription(event) { this.setData({ description: event.detail.value }); },

  async submit() {
    try {
      const filed = await getApp().api.postComplaint({ category: this.data.category, description: this.data.description });
      this.setData({ sent: filed.ticket_number, description: '', error: '' });
      await this.onShow();
    } catch (error) {
      this.setData({ error: message(/** @type {any} */ (error)) });
    }
  },
});
