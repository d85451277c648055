// Benefits paid to the card (GET /api/mp/v1/benefits, M-20 to M-22): newest first, in cursor pages;
// amounts from integer fen, times at +08:00.
import { cityTime, message, yuan } from '../../lib/format.js';

const BENEFIT_NAMES = { pension: '养老金', unemployment_insurance: '失业保险金', talent_subsidy: '人才补贴',
  employment_subsidy: '就业补贴', social_relief: '社会救助', agricultural_subsidy: '惠农补贴',
  disability_subsidy: '残疾人补贴', elderly_allowance: '高龄津贴' };
const STATUS = { pending: '发放中', credited: '已到账', returned: '已退回' };

/** One row as the page shows it. @param {any} item (a BenefitItem of docs/openapi.json) */
export function benefitRow(item) {
  return { id: item.disbursement_id, title: BENEFIT_NAMES[/** @type {keyof typeof BENEFIT_NAMES} */ (item.benefit_type)] ?? item.benefit_type,
    period: item.period, amount: yuan(item.amount_fen), when: cityTime(item.posted_at),
    status: STATUS[/** @type {keyof typeof STATUS} */ (item.status)] ?? item.status };
}

Page({
  data: { rows: /** @type {any[]} */ ([]), nextCursor: null, error: '' },

  async onShow() {
    this.setData({ rows: [], nextCursor: null });
    await this.more();
  },
  async onReachBottom() { if (this.data.nextCursor) await this.more(); },

  async more() {
    try {
      const page = await getApp().api.getBenefits(this.data.nextCursor);
      this.setData({ rows: [...this.data.rows, ...page.items.map(benefitRow)], nextCursor: page.next_cursor, error: '' });
    } catch (error) {
      this.setData({ error: message(/** @type {any} */ (error)) });
    }
  },
});
