import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodeSchedule } from '../lib/refresh.js';

test('a new code every step, and at once after a scan, never the same twice', () => {
  const schedule = new CodeSchedule();
  assert.deepEqual(schedule.next(60), { step: 2, sequence: 0 });
  assert.deepEqual(schedule.next(61), { step: 2, sequence: 1 }); // after a scan, same step
  assert.deepEqual(schedule.next(90), { step: 3, sequence: 0 }); // a new step starts at 0
});

test('the 100 codes of a step run out', () => {
  const schedule = new CodeSchedule();
  for (let n = 0; n < 100; n += 1) assert.equal(schedule.next(30).sequence, n);
  assert.equal(schedule.next(59), null);
  assert.deepEqual(schedule.next(60), { step: 2, sequence: 0 });
});

test('the timer fires at the next step', () => {
  assert.equal(CodeSchedule.msUntilNextStep(60), 30000);
  assert.equal(CodeSchedule.msUntilNextStep(89.5), 500);
});
