import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError, CardApi } from '../lib/api.js';

/** A wx.request double answering from a table of "METHOD path" -> [status, body]. */
function fakeRequest(table, seen) {
  return ({ url, method, data, header, success }) => {
    const path = new URL(url).pathname;
    seen.push({ method, path, data, header });
    const [statusCode, body] = table[`${method} ${path}`];
    success({ statusCode, data: body });
  };
}

test('log in, then every call carries the bearer token', async () => {
  const seen = [];
  const api = new CardApi('https://card.example/', fakeRequest({
    'POST /api/mp/v1/auth/wechat': [200, { token: 't0k3n', expires_in: 86400, bound: true }],
    'GET /api/mp/v1/card/code': [200, { code: 'DGC1:X', expires_at: '2026-05-21T09:30:30+08:00', refresh_in: 12 }],
  }, seen));
  assert.equal((await api.wechatLogin('wx-code')).bound, true);
  assert.equal((await api.getCode()).refresh_in, 12);
  assert.deepEqual(seen[0].data, { code: 'wx-code' });
  assert.equal(seen[0].header.Authorization, undefined);
  assert.equal(seen[1].header.Authorization, 'Bearer t0k3n');
});

test('an error answer rejects with the envelope code', async () => {
  const api = new CardApi('https://card.example', fakeRequest({
    'POST /api/mp/v1/complaints': [401, { error: { code: 'token_missing', message: 'no token', details: {} } }],
  }, []));
  await assert.rejects(api.postComplaint({ category: 'code', description: 'x' }),
    (error) => error instanceof ApiError && error.code === 'token_missing' && error.status === 401);
});
