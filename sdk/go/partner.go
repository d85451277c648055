// Package partner signs requests to the Dongguan Citizen Card partner API and verifies codes
// (issue 20, M-11), with the standard library alone: docs/partner-api.md "Signing every request".
package partner

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// VerifyPath is the verification endpoint's path.
const VerifyPath = "/api/partner/v1/verifications"

// Sign returns base64(HMAC-SHA256(secret, METHOD \n PATH \n TIMESTAMP \n NONCE \n BODY \n)).
// path includes the query string as sent; body is the exact bytes sent (nil for none).
func Sign(secret, method, path, timestamp, nonce string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	io.WriteString(mac, method+"\n"+path+"\n"+timestamp+"\n"+nonce+"\n")
	mac.Write(body)
	mac.Write([]byte{'\n'})
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Authorization returns the Authorization header's value for one request.
func Authorization(partnerID, secret, method, path string, body []byte, timestamp, nonce string) string {
	return fmt.Sprintf(`CC-HMAC-SHA256 partner_id="%s",timestamp="%s",nonce="%s",signature="%s"`,
		partnerID, timestamp, nonce, Sign(secret, method, path, timestamp, nonce, body))
}

// NewNonce returns 16 random bytes in hex, new for every request (retries included).
func NewNonce() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Client calls the partner API as one partner.
type Client struct {
	BaseURL, PartnerID, Secret string
	HTTP                       *http.Client
}

// Verification is the answer of POST /api/partner/v1/verifications (the fields a gate needs;
// docs/openapi.json has them all).
type Verification struct {
	VerificationID string          `json:"verification_id"`
	Accepted       bool            `json:"accepted"`
	Reason         *string         `json:"reason"`
	Subject        json.RawMessage `json:"subject"`
}

// Verify sends a scanned code, signed with a fresh nonce and this machine's clock (keep it on NTP).
func (c *Client) Verify(code, scene, terminalID string) (*Verification, error) {
	body, _ := json.Marshal(map[string]string{"code": code, "scene": scene, "terminal_id": terminalID})
	var answer Verification
	if err := c.Post(VerifyPath, body, true, &answer); err != nil {
		return nil, err
	}
	return &answer, nil
}

// Post sends body (signed when signed is true) and decodes a 2xx JSON answer into out; any other
// status is an error carrying the answer's envelope.
func (c *Client) Post(path string, body []byte, signed bool, out any) error {
	request, err := http.NewRequest("POST", c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	request.Header.Set("Content-Type", "application/json")
	if signed {
		timestamp := strconv.FormatInt(time.Now().Unix(), 10)
		request.Header.Set("Authorization", Authorization(c.PartnerID, c.Secret, "POST", path, body, timestamp, NewNonce()))
	}
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	response, err := client.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	data, err := io.ReadAll(response.Body)
	if err != nil {
		return err
	}
	if response.StatusCode >= 300 {
		return fmt.Errorf("%s answered %d: %s", path, response.StatusCode, data)
	}
	return json.Unmarshal(data, out)
}
