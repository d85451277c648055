// sandbox-verify: from zero to an accepted verification against the sandbox
// (docs/partner-api.md "The sandbox"): a test partner, an e-card code, a signed verification.
//
//	go run ./cmd/sandbox-verify http://127.0.0.1:8000
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"citizencard.dg/partner"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sandbox-verify BASE_URL")
		os.Exit(2)
	}
	anonymous := &partner.Client{BaseURL: os.Args[1]}
	var made struct {
		PartnerID string `json:"partner_id"`
		Secret    string `json:"secret"`
	}
	var shown struct {
		Code string `json:"code"`
	}
	must(anonymous.Post("/api/sandbox/v1/partners", []byte(`{"scenes": ["transit"]}`), false, &made))
	must(anonymous.Post("/api/sandbox/v1/e-card-codes", []byte(`{"resident": 1}`), false, &shown))
	client := &partner.Client{BaseURL: os.Args[1], PartnerID: made.PartnerID, Secret: made.Secret}
	answer, err := client.Verify(shown.Code, "transit", "sandbox-gate-1")
	must(err)
	out, _ := json.Marshal(answer)
	fmt.Println(string(out))
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
