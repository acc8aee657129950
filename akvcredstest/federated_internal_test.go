package akvcredstest

import (
	"strings"
	"testing"
	"time"
)

// A token from a trusted issuer for a registered subject, but for another
// audience, is refused with AADSTS700212.
func TestFederatedAudience(t *testing.T) {
	s := NewTestServer(t)
	const (
		issuer  = "https://issuer.example/"
		subject = "system:serviceaccount:ns:sa"
		app     = "00000000-0000-0000-0000-0000000fed03"
	)
	s.AddFederatedCredential(DefaultTenantID, app, issuer, subject)
	ik := s.issuerKey(issuer)
	sign := func(claims map[string]any) string {
		tok, err := ik.sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now().Unix()
	base := func(aud any) map[string]any {
		return map[string]any{"iss": issuer, "sub": subject, "aud": aud, "iat": now, "nbf": now, "exp": now + 3600}
	}
	for _, tt := range []struct {
		name   string
		claims map[string]any
		code   int
	}{
		{"audience as a string", base(FederatedTokenAudience), 0},
		{"other audience", base([]string{"https://kubernetes.default.svc"}), 700212},
		{"no audience", base(nil), 700212},
		{"no exp", map[string]any{"iss": issuer, "sub": subject, "aud": FederatedTokenAudience}, 700024},
		{"not yet valid", map[string]any{"iss": issuer, "sub": subject, "aud": FederatedTokenAudience, "nbf": now + 3600, "exp": now + 7200}, 700024},
	} {
		fed, fail := s.checkFederatedAssertion(DefaultTenantID, app, sign(tt.claims))
		switch {
		case !fed:
			t.Errorf("%s: not taken as federated", tt.name)
		case tt.code == 0 && fail != nil:
			t.Errorf("%s: %+v", tt.name, fail)
		case tt.code != 0 && (fail == nil || fail.aadsts != tt.code):
			t.Errorf("%s: %+v, want AADSTS%d", tt.name, fail, tt.code)
		case tt.code == 700212 && !strings.Contains(fail.desc, "presented assertion audience"):
			t.Errorf("%s: %s", tt.name, fail.desc)
		}
	}
	// A certificate assertion (iss = client ID) is left to checkAssertion.
	if fed, _ := s.checkFederatedAssertion(DefaultTenantID, app, sign(map[string]any{"iss": app, "sub": app})); fed {
		t.Error("certificate assertion taken as federated")
	}
}
