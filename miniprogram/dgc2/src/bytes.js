// Byte helpers: hex, base64url without padding (RFC 4648 §5), big-endian integers.

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

export const ascii = (text) => new TextEncoder().encode(text);

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromHex(hex) {
  if (hex.length % 2 || /[^0-9a-fA-F]/.test(hex)) throw new Error('not hex');
  return Uint8Array.from(hex.match(/../g) || [], (h) => parseInt(h, 16));
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function b64url(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = [18, 12, 6, 0].map((shift) => B64[(n >> shift) & 63]);
    out += chars.slice(0, Math.min(4, bytes.length - i + 1)).join('');
  }
  return out;
}

export function fromB64url(text) {
  if (typeof text !== 'string' || /[^A-Za-z0-9_-]/.test(text) || text.length % 4 === 1) throw new Error('not base64url');
  const out = [];
  for (let i = 0; i < text.length; i += 4) {
    const chunk = text.slice(i, i + 4);
    const n = [...chunk.padEnd(4, 'A')].reduce((acc, c) => (acc << 6) | B64.indexOf(c), 0);
    out.push((n >> 16) & 255, (n >> 8) & 255, n & 255);
    out.length -= 4 - chunk.length;
  }
  const bytes = Uint8Array.from(out);
  if (b64url(bytes) !== text) throw new Error('non-canonical base64url');
  return bytes;
}

export function u32(n) {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

export function u16(n) {
  return Uint8Array.of((n >>> 8) & 255, n & 255);
}

export function readU32(bytes, at) {
  return ((bytes[at] << 24) >>> 0) + (bytes[at + 1] << 16) + (bytes[at + 2] << 8) + bytes[at + 3];
}

export function readU16(bytes, at) {
  return (bytes[at] << 8) | bytes[at + 1];
}

export function compare(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
