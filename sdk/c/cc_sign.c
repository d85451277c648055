/* See cc_sign.h. */
#include "cc_sign.h"

#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress(uint32_t s[8], const uint8_t block[64]) {
    uint32_t w[64], a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

void cc_sha256_init(cc_sha256 *ctx) {
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->state, H0, sizeof H0);
    ctx->length = 0;
    ctx->used = 0;
}

void cc_sha256_update(cc_sha256 *ctx, const uint8_t *data, size_t len) {
    ctx->length += len;
    while (len > 0) {
        size_t take = 64 - ctx->used < len ? 64 - ctx->used : len;
        memcpy(ctx->block + ctx->used, data, take);
        ctx->used += take;
        data += take;
        len -= take;
        if (ctx->used == 64) {
            compress(ctx->state, ctx->block);
            ctx->used = 0;
        }
    }
}

void cc_sha256_final(cc_sha256 *ctx, uint8_t digest[32]) {
    uint64_t bits = ctx->length * 8;
    uint8_t pad = 0x80, zero = 0, size[8];
    cc_sha256_update(ctx, &pad, 1);
    while (ctx->used != 56) cc_sha256_update(ctx, &zero, 1);
    for (int i = 0; i < 8; i++) size[i] = (uint8_t)(bits >> (56 - 8 * i));
    cc_sha256_update(ctx, size, 8);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(ctx->state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(ctx->state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(ctx->state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)ctx->state[i];
    }
}

void cc_base64(const uint8_t *data, size_t len, char *out) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t n = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0) | (i + 2 < len ? data[i + 2] : 0);
        out[o++] = A[n >> 18 & 63];
        out[o++] = A[n >> 12 & 63];
        out[o++] = i + 1 < len ? A[n >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? A[n & 63] : '=';
    }
    out[o] = '\0';
}

static void update_part(cc_sha256 *ctx, const char *text) {  /* a part of the string to sign and its \n */
    static const uint8_t newline = '\n';
    cc_sha256_update(ctx, (const uint8_t *)text, strlen(text));
    cc_sha256_update(ctx, &newline, 1);
}

void cc_sign(const char *secret, const char *method, const char *path, const char *timestamp,
             const char *nonce, const uint8_t *body, size_t body_len, char out[CC_SIGNATURE_LEN]) {
    uint8_t key[64] = {0}, pad[64], inner[32], mac[32];
    size_t secret_len = strlen(secret);
    cc_sha256 ctx;
    if (secret_len > 64) {  /* RFC 2104 §2: a key longer than the block is hashed first */
        cc_sha256_init(&ctx);
        cc_sha256_update(&ctx, (const uint8_t *)secret, secret_len);
        cc_sha256_final(&ctx, key);
    } else {
        memcpy(key, secret, secret_len);
    }
    for (int i = 0; i < 64; i++) pad[i] = key[i] ^ 0x36;
    cc_sha256_init(&ctx);
    cc_sha256_update(&ctx, pad, 64);
    update_part(&ctx, method);
    update_part(&ctx, path);
    update_part(&ctx, timestamp);
    update_part(&ctx, nonce);
    if (body_len > 0) cc_sha256_update(&ctx, body, body_len);
    cc_sha256_update(&ctx, (const uint8_t *)"\n", 1);
    cc_sha256_final(&ctx, inner);
    for (int i = 0; i < 64; i++) pad[i] = key[i] ^ 0x5c;
    cc_sha256_init(&ctx);
    cc_sha256_update(&ctx, pad, 64);
    cc_sha256_update(&ctx, inner, 32);
    cc_sha256_final(&ctx, mac);
    cc_base64(mac, 32, out);
}
