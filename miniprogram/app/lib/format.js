// What the pages show: money (integer fen from the API) as yuan, times (ISO 8601 with +08:00 from
// the API) as the city's wall clock, error codes as Chinese sentences (docs/miniprogram-api.md).

/** 123456 -> "¥1,234.56"; negative amounts keep their sign. @param {number} fen @returns {string} */
export function yuan(fen) {
  if (!Number.isInteger(fen)) throw new Error('amounts are integer fen');
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  const whole = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}¥${whole}.${String(abs % 100).padStart(2, '0')}`;
}

/** "2026-05-21T09:30:05+08:00" -> "2026-05-21 09:30" (Beijing time, whatever the phone's zone). @param {string} iso */
export function cityTime(iso) {
  const shifted = new Date(Date.parse(iso) + 8 * 3600 * 1000).toISOString();
  return `${shifted.slice(0, 10)} ${shifted.slice(11, 16)}`;
}

const MESSAGES = {
  not_on_roster: '未在本市登记名册中找到您的信息，请核对姓名、证件号码和手机号',
  already_bound: '该市民卡已被其他账号绑定，可通过人脸核验取回',
  binding_locked: '尝试次数过多，请稍后再试',
  validation_error: '填写的内容有误，请检查后再提交',
  rate_limited: '操作太频繁，请稍后再试',
  busy: '系统繁忙，请稍后再试',
  card_inactive: '电子市民卡已挂失、暂停或注销，暂不能出示',
  too_many_codes: '刷新太频繁，请稍后再试',
};

/** A refusal's Chinese sentence for the page (unknown codes: a generic one with the code). @param {{code: string}} error */
export function message(error) {
  return MESSAGES[/** @type {keyof typeof MESSAGES} */ (error.code)] ?? `操作未成功（${error.code ?? '网络错误'}）`;
}
