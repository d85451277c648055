// Drawing the e-card's QR code on the phone (issue 20 item 6), as the server's renderer does
// (qr/render.py: alphanumeric mode, error correction level M, the smallest version that fits, a
// 4-module quiet zone, ISO/IEC 18004). DGC1 and DGC2 texts use only the alphanumeric set
// (0-9 A-Z space $ % * + - . / :), so they encode compactly: a DGC1 code fits version 3 (29 x 29).
// The library is qrcode-generator (MIT, no dependencies); the page draws with a canvas 2D context.
import qrcode from 'qrcode-generator';

export const QUIET_ZONE = 4; // modules of light border on each side (ISO/IEC 18004 §6.3.8)
const ALPHANUMERIC = /^[0-9A-Z $%*+\-./:]*$/;

/**
 * The dark/light modules of ``text``'s QR symbol, without the quiet zone.
 * @param {string} text a DGC1 or DGC2 code exactly as the API gave it
 * @returns {boolean[][]} rows of modules, true = dark
 */
export function qrMatrix(text) {
  if (!ALPHANUMERIC.test(text)) throw new Error('a code is alphanumeric (0-9 A-Z space $%*+-./:)');
  const symbol = qrcode(0, 'M');
  symbol.addData(text, 'Alphanumeric');
  symbol.make();
  const size = symbol.getModuleCount();
  return Array.from({ length: size }, (_, row) => Array.from({ length: size }, (_, col) => symbol.isDark(row, col)));
}

/**
 * Draw ``matrix`` on a canvas 2D context (wx.createCanvasContext / canvas.getContext('2d')) as a
 * ``sizePx`` square with the quiet zone, whole pixels per module so scanners see sharp edges.
 * @param {{fillStyle: string, fillRect: Function}} ctx @param {boolean[][]} matrix @param {number} sizePx
 * @returns {number} pixels per module
 */
export function drawQr(ctx, matrix, sizePx) {
  const modules = matrix.length + 2 * QUIET_ZONE;
  const scale = Math.max(1, Math.floor(sizePx / modules));
  const offset = Math.floor((sizePx - scale * modules) / 2) + QUIET_ZONE * scale;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, sizePx, sizePx);
  ctx.fillStyle = '#000000';
  matrix.forEach((row, r) => row.forEach((dark, c) => {
    if (dark) ctx.fillRect(offset + c * scale, offset + r * scale, scale, scale);
  }));
  return scale;
}
