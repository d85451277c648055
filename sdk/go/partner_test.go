package partner

import "testing"

const body = `{"code":"DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790","scene":"transit","terminal_id":"gate-A01"}`

// The worked example of docs/partner-api.md.
func TestWorkedExample(t *testing.T) {
	got := Sign("example-secret-do-not-use", "POST", VerifyPath, "1779370355", "5f2b8c0e9d1a4b7c", []byte(body))
	if got != "FkWKWXXC5gPhn4TTSAkYSujr4Yi6nsUUd3Mf8VmOLHg=" {
		t.Fatalf("signature %s", got)
	}
	header := Authorization("p_0123456789abcdef", "example-secret-do-not-use", "POST", VerifyPath, []byte(body),
		"1779370355", "5f2b8c0e9d1a4b7c")
	want := `CC-HMAC-SHA256 partner_id="p_0123456789abcdef",timestamp="1779370355",nonce="5f2b8c0e9d1a4b7c",` +
		`signature="FkWKWXXC5gPhn4TTSAkYSujr4Yi6nsUUd3Mf8VmOLHg="`
	if header != want {
		t.Fatalf("header %s", header)
	}
}

func TestNoncesAreFreshAndWellFormed(t *testing.T) {
	a, b := NewNonce(), NewNonce()
	if a == b || len(a) != 32 {
		t.Fatalf("nonces %q %q", a, b)
	}
}
