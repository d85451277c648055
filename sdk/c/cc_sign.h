/* The Dongguan Citizen Card partner request signature for gate firmware (issue 20, M-11):
 * docs/partner-api.md "Signing every request". Self-contained C99 (SHA-256 per FIPS 180-4,
 * HMAC per RFC 2104, base64 per RFC 4648 §4): no heap, no libc beyond memcpy/strlen, no OpenSSL,
 * so it builds for a gate's microcontroller as it is. */
#ifndef CC_SIGN_H
#define CC_SIGN_H

#include <stddef.h>
#include <stdint.h>

/* A base64 HMAC-SHA256 is 44 characters; with the terminating NUL, 45. */
#define CC_SIGNATURE_LEN 45

/* signature = base64(HMAC-SHA256(key = secret, message = METHOD \n PATH \n TIMESTAMP \n NONCE \n BODY \n)).
 * method, path, timestamp, nonce: NUL-terminated; body: body_len bytes (the exact bytes sent,
 * may be NULL when body_len is 0). Writes the NUL-terminated signature to out. */
void cc_sign(const char *secret, const char *method, const char *path, const char *timestamp,
             const char *nonce, const uint8_t *body, size_t body_len, char out[CC_SIGNATURE_LEN]);

/* The primitives, for firmware that needs them elsewhere. */
typedef struct {
    uint32_t state[8];
    uint64_t length;    /* bytes hashed so far */
    uint8_t block[64];
    size_t used;        /* bytes waiting in block */
} cc_sha256;

void cc_sha256_init(cc_sha256 *ctx);
void cc_sha256_update(cc_sha256 *ctx, const uint8_t *data, size_t len);
void cc_sha256_final(cc_sha256 *ctx, uint8_t digest[32]);
void cc_base64(const uint8_t *data, size_t len, char *out); /* out: 4 * ceil(len / 3) + 1 bytes */

#endif
