package akvcredstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// tokenClaims are the claims of the access tokens the server issues, shaped
// like Entra ID's v1 access tokens for Key Vault.
type tokenClaims struct {
	Aud      string `json:"aud"`
	Iss      string `json:"iss"`
	Iat      int64  `json:"iat"`
	Nbf      int64  `json:"nbf"`
	Exp      int64  `json:"exp"`
	Aio      string `json:"aio,omitempty"`
	Appid    string `json:"appid"`
	Appidacr string `json:"appidacr"`
	Idp      string `json:"idp"`
	Idtyp    string `json:"idtyp"`
	Oid      string `json:"oid"`
	Rh       string `json:"rh"`
	Sub      string `json:"sub"`
	Tid      string `json:"tid"`
	Uti      string `json:"uti"`
	Ver      string `json:"ver"`
	XmsMirid string `json:"xms_mirid,omitempty"`
	// Principal is the emulator's permission key (client ID or SystemAssigned).
	Principal string `json:"xms_akvcredstest_principal,omitempty"`
}

var b64 = base64.RawURLEncoding

// issueToken signs claims for aud in tenant tid, valid for the configured
// lifetime from now.
func (s *Server) issueToken(aud, tid, appid, oid, principal, mirid string, now time.Time) (string, tokenClaims) {
	iss := fmt.Sprintf(clouds[0].issuerFmt, tid)
	if c, ok := cloudForResource(aud); ok {
		iss = fmt.Sprintf(c.issuerFmt, tid)
	}
	life := s.cfg.tokenLifetime / time.Second
	c := tokenClaims{
		Aud:       aud,
		Iss:       iss,
		Iat:       now.Unix(),
		Nbf:       now.Unix(),
		Exp:       now.Unix() + int64(life),
		Aio:       "E2ZgYJi/akvcredstest=",
		Appid:     appid,
		Appidacr:  "1",
		Idp:       iss,
		Idtyp:     "app",
		Oid:       oid,
		Rh:        "0.AAAA.akvcredstest.",
		Sub:       oid,
		Tid:       tid,
		Uti:       b64.EncodeToString([]byte(newID()[:16])),
		Ver:       "1.0",
		XmsMirid:  mirid,
		Principal: principal,
	}
	if mirid != "" {
		c.Appidacr = "2"
	}
	header := b64.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256","kid":"akvcredstest"}`))
	payload, _ := json.Marshal(c)
	signing := header + "." + b64.EncodeToString(payload)
	return signing + "." + b64.EncodeToString(s.mac(signing)), c
}

func (s *Server) mac(signing string) []byte {
	m := hmac.New(sha256.New, s.signKey)
	m.Write([]byte(signing))
	return m.Sum(nil)
}

var errBadSignature = errors.New("bad signature")

// parseToken checks the token's signature and returns its claims.
func (s *Server) parseToken(tok string) (tokenClaims, error) {
	var c tokenClaims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c, errBadSignature
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, s.mac(parts[0]+"."+parts[1])) {
		return c, errBadSignature
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return c, errBadSignature
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, errBadSignature
	}
	return c, nil
}
