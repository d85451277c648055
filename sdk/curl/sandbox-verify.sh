#!/usr/bin/env bash
# From zero to an accepted verification against the sandbox with curl, openssl and coreutils only
# (docs/partner-api.md "The sandbox"): a test partner, a test resident's e-card code, a signed
# POST /api/partner/v1/verifications. Prints the verification's answer (JSON).
#   sdk/curl/sandbox-verify.sh [BASE_URL]        (default http://127.0.0.1:8000)
set -euo pipefail
BASE="${1:-http://127.0.0.1:8000}"

field() {  # the string value of JSON field $1 in stdin (flat answers only)
    grep -o "\"$1\": *\"[^\"]*\"" | head -n 1 | sed -E 's/.*: *"([^"]*)"$/\1/'
}

partner=$(curl -sSf -X POST -H 'Content-Type: application/json' -d '{"scenes": ["transit"]}' "$BASE/api/sandbox/v1/partners")
partner_id=$(field partner_id <<<"$partner")
secret=$(field secret <<<"$partner")
code=$(curl -sSf -X POST -H 'Content-Type: application/json' -d '{"resident": 1}' "$BASE/api/sandbox/v1/e-card-codes" | field code)

path=/api/partner/v1/verifications
body="{\"code\":\"$code\",\"scene\":\"transit\",\"terminal_id\":\"sandbox-gate-1\"}"
timestamp=$(date +%s)
nonce=$(openssl rand -hex 16)
# METHOD \n PATH \n TIMESTAMP \n NONCE \n BODY \n, HMAC-SHA256 keyed by the secret, base64
signature=$(printf 'POST\n%s\n%s\n%s\n%s\n' "$path" "$timestamp" "$nonce" "$body" \
    | openssl dgst -sha256 -hmac "$secret" -binary | base64)
curl -sSf -X POST "$BASE$path" -H 'Content-Type: application/json' \
    -H "Authorization: CC-HMAC-SHA256 partner_id=\"$partner_id\",timestamp=\"$timestamp\",nonce=\"$nonce\",signature=\"$signature\"" \
    --data-binary "$body"
echo
