// Base45 (RFC 9285), strict decoding as RFC 9285 §6 requires.
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

export function encode(bytes) {
  let out = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    let n = bytes[i] * 256 + bytes[i + 1];
    const c = n % 45; n = (n - c) / 45;
    const d = n % 45; const e = (n - d) / 45;
    out += ALPHABET[c] + ALPHABET[d] + ALPHABET[e];
  }
  if (bytes.length % 2) {
    const last = bytes[bytes.length - 1];
    out += ALPHABET[last % 45] + ALPHABET[Math.floor(last / 45)];
  }
  return out;
}

export function decode(text) {
  if (text.length % 3 === 1) throw new Error('base45 length leaves a single character');
  const values = [...text].map((char) => {
    const value = ALPHABET.indexOf(char);
    if (value < 0) throw new Error('character outside the base45 alphabet');
    return value;
  });
  const out = [];
  for (let i = 0; i < values.length; i += 3) {
    if (i + 2 < values.length) {
      const n = values[i] + values[i + 1] * 45 + values[i + 2] * 2025;
      if (n > 0xffff) throw new Error('base45 triple above 65535');
      out.push(n >> 8, n & 255);
    } else {
      const n = values[i] + values[i + 1] * 45;
      if (n > 0xff) throw new Error('base45 pair above 255');
      out.push(n);
    }
  }
  return Uint8Array.from(out);
}
