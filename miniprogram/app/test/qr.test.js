import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QUIET_ZONE, drawQr, qrMatrix } from '../lib/qr.js';
import { cityTime, yuan } from '../lib/format.js';

test('a DGC1 code is a version 3 symbol (29 modules) with its three finder patterns', () => {
  const m = qrMatrix('DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790');
  assert.equal(m.length, 29);
  for (const [r, c] of [[0, 0], [0, 22], [22, 0]]) {
    assert.ok(m[r][c] && m[r + 6][c + 6] && m[r + 3][c + 3] && !m[r + 1][c + 1], `finder at ${r},${c}`);
  }
});

test('text outside the alphanumeric set is refused (a code never has it)', () => {
  assert.throws(() => qrMatrix('dgc1:lower'), /alphanumeric/);
});

test('drawing uses whole pixels per module and keeps the quiet zone', () => {
  const m = qrMatrix('DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790');
  const rects = [];
  const scale = drawQr({ fillStyle: '', fillRect: (...r) => rects.push(r) }, m, 600);
  assert.equal(scale, Math.floor(600 / (29 + 2 * QUIET_ZONE)));
  const dark = rects.slice(1);
  assert.equal(dark.length, m.flat().filter(Boolean).length);
  const left = Math.min(...dark.map((r) => r[0]));
  assert.ok(left >= QUIET_ZONE * scale);
});

test('money and time as the pages show them', () => {
  assert.equal(yuan(0), '¥0.00');
  assert.equal(yuan(-2350), '-¥23.50');
  assert.equal(yuan(100000000), '¥1,000,000.00');
  assert.throws(() => yuan(1.5), /integer fen/);
  assert.equal(cityTime('2026-05-21T23:30:00Z'), '2026-05-22 07:30');
  assert.equal(cityTime('2026-05-21T09:30:00+08:00'), '2026-05-21 09:30');
});
