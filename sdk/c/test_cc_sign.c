/* The worked example of docs/partner-api.md and FIPS 180-2's SHA-256 examples;
 * and, given six arguments, prints their signature (tests/unit/test_sdk_samples.py cross-checks
 * it against Python's hmac, keys longer than the block included):
 *   cc test_cc_sign.c cc_sign.c -o test_cc_sign && ./test_cc_sign [SECRET METHOD PATH TS NONCE BODY] */
#include <stdio.h>
#include <string.h>

#include "cc_sign.h"

static int failures = 0;

static void expect(const char *what, const char *got, const char *want) {
    if (strcmp(got, want) != 0) {
        printf("FAIL %s: %s, expected %s\n", what, got, want);
        failures++;
    } else {
        printf("ok   %s\n", what);
    }
}

static void sha256_hex(const char *text, size_t repeat, char out[65]) {
    uint8_t digest[32];
    cc_sha256 ctx;
    cc_sha256_init(&ctx);
    for (size_t i = 0; i < repeat; i++) cc_sha256_update(&ctx, (const uint8_t *)text, strlen(text));
    cc_sha256_final(&ctx, digest);
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", digest[i]);
}

int main(int argc, char **argv) {
    char hex[65], signature[CC_SIGNATURE_LEN];
    if (argc == 7) {
        cc_sign(argv[1], argv[2], argv[3], argv[4], argv[5], (const uint8_t *)argv[6], strlen(argv[6]), signature);
        puts(signature);
        return 0;
    }
    sha256_hex("abc", 1, hex);
    expect("SHA-256 abc", hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1, hex);
    expect("SHA-256 two blocks", hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    sha256_hex("a", 1000000, hex);
    expect("SHA-256 a million a", hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    const char *body = "{\"code\":\"DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790\",\"scene\":\"transit\",\"terminal_id\":\"gate-A01\"}";
    cc_sign("example-secret-do-not-use", "POST", "/api/partner/v1/verifications", "1779370355", "5f2b8c0e9d1a4b7c",
            (const uint8_t *)body, strlen(body), signature);
    expect("worked example of docs/partner-api.md", signature, "FkWKWXXC5gPhn4TTSAkYSujr4Yi6nsUUd3Mf8VmOLHg=");
    cc_sign("s", "GET", "/api/partner/v1/statements/2026-05-21", "1", "nonce-123", NULL, 0, signature);
    printf("     an empty body: %s\n", signature);
    return failures == 0 ? 0 : 1;
}
