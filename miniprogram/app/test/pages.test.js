// The pages' logic under Node with the WeChat globals played by doubles (Page, getApp, wx): each
// page module registers its definition with Page(); the test makes an instance with setData and
// drives it as the framework would. The API is a double answering like the server (shapes of
// docs/openapi.json); tests/unit/test_miniprogram_app_js.py checks the QR against a real decoder.
import assert from 'node:assert/strict';
import { test } from 'node:test';

const pages = {};
let current = '';
globalThis.Page = (definition) => { pages[current] = definition; };
const redirects = [];
const app = { api: null, bound: true };
globalThis.getApp = () => app;
globalThis.wx = { redirectTo: ({ url }) => redirects.push(url), getStorageSync: () => '' };

async function load(name) {
  current = name;
  await import(`../pages/${name}/${name}.js`);
  return pages[name];
}

function instance(definition) {
  const page = { ...definition, data: structuredClone(definition.data) };
  page.setData = (changes) => { Object.assign(page.data, changes); };
  return page;
}

class Refused extends Error {
  constructor(code) { super(code); this.code = code; }
}

test('binding: the three fields are sent trimmed, the e-card follows; a refusal is a Chinese sentence', async () => {
  const page = instance(await load('binding'));
  const sent = [];
  app.api = { createBinding: async (person) => { sent.push(person); if (sent.length === 1) throw new Refused('not_on_roster'); } };
  page.onInput({ currentTarget: { dataset: { field: 'name' } }, detail: { value: ' 陈小明 ' } });
  page.onInput({ currentTarget: { dataset: { field: 'id_number' } }, detail: { value: '44190019900101123x' } });
  page.onInput({ currentTarget: { dataset: { field: 'phone' } }, detail: { value: '13900000000' } });
  await page.submit();
  assert.match(page.data.error, /未在本市登记名册/);
  assert.deepEqual(redirects, []);
  await page.submit();
  assert.deepEqual(sent[1], { name: '陈小明', id_number: '44190019900101123X', phone: '13900000000' });
  assert.equal(page.data.error, '');
  assert.deepEqual(redirects, ['/pages/ecard/ecard']);
  assert.equal(page.data.busy, false);
});

test('benefits: pages follow the cursor; amounts in yuan from fen, times at +08:00', async () => {
  const page = instance(await load('benefits'));
  const asked = [];
  const item = (id, fen) => ({ disbursement_id: id, benefit_type: 'pension', amount_fen: fen, period: '2026-05', status: 'credited',
    return_reason: null, department: 'hrss', posted_at: '2026-05-21T01:30:05Z', settled_at: null });
  app.api = { getBenefits: async (cursor) => { asked.push(cursor); return cursor ? { items: [item(1, 5)], next_cursor: null }
    : { items: [item(2, 123456)], next_cursor: 'c1' }; } };
  await page.onShow();
  await page.onReachBottom();
  await page.onReachBottom(); // the last page: nothing more is asked
  assert.deepEqual(asked, [null, 'c1']);
  assert.deepEqual(page.data.rows.map((r) => [r.id, r.title, r.amount, r.when, r.status]),
    [[2, '养老金', '¥1,234.56', '2026-05-21 09:30', '已到账'], [1, '养老金', '¥0.05', '2026-05-21 09:30', '已到账']]);
});

test('complaints: categories and own tickets load; a filed one shows its number', async () => {
  const page = instance(await load('complaints'));
  const filed = [];
  const ticket = { ticket_number: 'C20260521-0001', status: 'new', resolution_due: '2026-05-28T10:00:00+08:00' };
  app.api = {
    getCategories: async () => [{ key: 'code_refused', label: '扫码被拒' }],
    getComplaints: async () => ({ items: filed.length ? [ticket] : [], next_cursor: null }),
    postComplaint: async (body) => { filed.push(body); return ticket; },
  };
  await page.onShow();
  page.onCategory({ detail: { value: 0 } });
  page.onDescription({ detail: { value: '地铁闸机扫码失败' } });
  await page.submit();
  assert.deepEqual(filed, [{ category: 'code_refused', description: '地铁闸机扫码失败' }]);
  assert.equal(page.data.sent, 'C20260521-0001');
  assert.equal(page.data.tickets[0].due, '2026-05-28 10:00');
});

test('e-card: an unbound account goes to binding; a bound one draws the code as a QR on the canvas', async () => {
  const page = instance(await load('ecard'));
  const rects = [];
  page.canvasContext = async () => ({ fillStyle: '', fillRect: (...r) => rects.push(r) });
  app.bound = false;
  redirects.length = 0;
  await page.onShow();
  assert.deepEqual(redirects, ['/pages/binding/binding']);
  app.bound = true;
  app.api = { getCode: async () => ({ code: 'DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790', expires_at: '', refresh_in: 12 }) };
  await page.onShow();
  page.onHide();
  assert.equal(page.data.code, 'DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790');
  assert.deepEqual(rects[0], [0, 0, 600, 600]); // the light background first
  assert.ok(rects.length > 200); // then the dark modules
});
