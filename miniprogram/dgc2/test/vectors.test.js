// The published vectors (docs/offline-codes/vectors.json), made by the Python platform code, pass
// in this independent JavaScript verifier: Python -> JS interoperability.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Gate, fromB64url, readDenyList, readRootKey, readTrustList } from '../index.js';

const doc = JSON.parse(readFileSync(new URL('../../../docs/offline-codes/vectors.json', import.meta.url)));
const root = readRootKey(doc.keys.root);

test('the vectors cover all thirteen steps', () => {
  assert.deepEqual(new Set(doc.vectors.map((v) => v.expected.step)), new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]));
});

for (const vector of doc.vectors) {
  test(`vector ${vector.name}`, () => {
    const { context } = vector;
    const trust = readTrustList(context.trust_list, root);
    const gate = new Gate({ trust, deny: readDenyList(fromB64url(context.deny_list), trust.denyListKey), scene: context.scene });
    for (const earlier of context.earlier ?? []) assert.equal(gate.scan(earlier.code, earlier.now).accepted, true);
    assert.deepEqual(gate.scan(vector.code, context.now), vector.expected);
  });
}

test('a trust list signed by another root is refused', () => {
  const other = { ...doc.keys.root, public_key: doc.keys.deny_list.public_key };
  assert.throws(() => readTrustList(doc.vectors[0].context.trust_list, readRootKey(other)), /signature/);
});
