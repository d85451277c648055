// Cryptographic randomness only: globalThis.crypto.getRandomValues (Node, browsers, newer
// mini-program runtimes) or wx.getRandomValues (WeChat base library >= 2.15.0) through `ready()`.
// There is NO fallback to Math.random: without a CSPRNG, key generation throws.
import { sm2 } from 'sm-crypto-v2';

let pool = new Uint8Array(0);

function wxRandom(length) {
  return new Promise((resolve, reject) => {
    globalThis.wx.getRandomValues({ length, success: (res) => resolve(new Uint8Array(res.randomValues)), fail: reject });
  });
}

// Call (and await) once before generating keys or signing with SM2 in a mini-program.
export async function ready() {
  if (!globalThis.crypto?.getRandomValues && globalThis.wx?.getRandomValues && pool.length < 1024) {
    pool = new Uint8Array([...pool, ...(await wxRandom(4096))]);
  }
  await sm2.initRNGPool(); // sm-crypto-v2's own nonce source (crypto or wx.getRandomValues, never Math.random)
}

export function randomBytes(length) {
  if (globalThis.crypto?.getRandomValues) return globalThis.crypto.getRandomValues(new Uint8Array(length));
  if (pool.length >= length) {
    const out = pool.slice(0, length);
    pool = pool.slice(length);
    return out;
  }
  throw new Error('no cryptographic random source (await ready() in a mini-program; Math.random is never used)');
}
